"""Grids of (variant x seed) runs: content-addressed folders, one executor interface, and the
unit of work every executor runs: train (or resume) a run, then score it, caching the scores in
the run's folder.

A run's folder is keyed by a hash of every config field that can change its numbers, so
- a finished run is loaded, not retrained;
- a partial one (killed mid-way, even by SIGKILL) resumes from its last checkpoint;
- a changed hyper-parameter makes a new folder, never a silent overwrite.

Executors (all train into those folders; results are then read back from disk, so they are
identical whichever executor ran them: every CPU run uses one thread):
- 'inprocess': one run after another in this process;
- 'pool': long-lived worker processes (one thread each on CPU; on GPUs, one worker per visible
  device, training `per_gpu` runs at once in that one process, each on its own CUDA stream:
  $WGAN_REPRO_PER_GPU, else 4; `train.train_many`);
- 'ray': Ray tasks (`pip install -e '.[ray]'`; address from `ray_address` or $RAY_ADDRESS,
  else a local Ray; fractional GPUs so several small GANs share a device);
- 'auto' (default, or $WGAN_REPRO_EXECUTOR): 'pool' when two or more non-trivial runs are
  pending on a multi-core CPU or on GPUs, else 'inprocess'.

Stopping: a pool worker stops when its parent process dies (a parent-death signal, and a watchdog
on the parent's pid where that signal is unavailable); SIGTERM makes a training worker finish
its iteration, checkpoint and exit, so the next execution resumes it. A stopped driver cancels
its pending pool or Ray work.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import torch

from .config import ConfigError, TrainConfig, keyed_values
from .device import runs_per_gpu
from .fidelity import ScoringSpec
from .presets import config_from_dict
from .rundir import code_hash, finished, load_run
from .cluster import run_ray
from .work import _train_group, _train_one, score_cached, score_run  # noqa: F401 (score_run: grid's API too)

EXECUTORS = ("auto", "inprocess", "pool", "ray")


def run_key(cfg: TrainConfig) -> str:
    """A run's folder key: every field that can change its numbers."""
    values = keyed_values(cfg)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def check_seeds(seeds, field: str = "seeds") -> list[int]:
    """A grid's seeds: a non-empty list of distinct integers (a verdict needs distinct runs)."""
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ConfigError(f"{field}={seeds!r} is not allowed: a non-empty list of distinct integer seeds")
    if any(not isinstance(s, int) or isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{field}={seeds!r} is not allowed: seeds are integers")
    dup = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if dup:
        raise ConfigError(f"{field}={seeds!r} is not allowed: seed {dup[0]} appears twice; seeds must be distinct "
                          f"(each is one run of every variant)")
    return list(seeds)


def slug(name: str) -> str:
    """'DCGAN / WGAN' -> 'DCGAN_WGAN' (safe in any file system)."""
    return re.sub(r"[^A-Za-z0-9.=_-]+", "_", name).strip("_")


def grid_configs(base: dict, variants: dict[str, dict], seeds: list[int], out_root: str | Path,
                 progress: bool = False, seeds_of: dict[str, list[int]] | None = None
                 ) -> dict[tuple[str, int], TrainConfig]:
    """Every (variant, seed) config, validated before any work starts, each in its keyed folder.
    seeds_of: variants that run other seeds than `seeds` (a control shown beside the arms, say)."""
    check_seeds(seeds)
    seeds_of = seeds_of or {}
    unknown = sorted(set(seeds_of) - set(variants))
    if unknown:
        raise ConfigError(f"seeds_of={unknown[0]!r} is not allowed: it names no variant ({', '.join(variants)})")
    for name, own in seeds_of.items():
        check_seeds(own, f"seeds_of[{name!r}]")
    configs = {}
    for name, overrides in variants.items():
        for seed in seeds_of.get(name, seeds):
            # DVCLive off unless asked: the pipeline's plots read results/*/curves.csv, not runs/*/dvclive
            values = {"dvclive": False, **base, **overrides, "seed": seed, "progress": progress, "resume": True}
            cfg = config_from_dict({**values, "out_dir": "-"})
            # 'a/b' names nest: out_root/a/b/seed<k>-<hash>
            folder = Path(out_root).joinpath(*(slug(part) for part in name.split("/")))
            cfg.out_dir = str(folder / f"seed{seed}-{run_key(cfg)}")
            configs[(name, seed)] = cfg
    return configs


def gpu_groups(jobs: list[dict], devices: list[str], per_gpu: int) -> list[list[dict]]:
    """Jobs (in submission order) spread over the devices, then cut into groups of up to `per_gpu` runs
    that share one process and one device: [[job, ...], ...], the first group of each device first."""
    per_device: dict[str, list[dict]] = {d: [] for d in devices}
    for i, values in enumerate(jobs):
        device = devices[i % len(devices)]
        per_device[device].append({**values, "device": device})
    chunks = {d: [js[k:k + per_gpu] for k in range(0, len(js), per_gpu)] for d, js in per_device.items()}
    groups = []
    for k in range(max((len(c) for c in chunks.values()), default=0)):
        groups += [c[k] for c in chunks.values() if k < len(c)]
    return groups


def _worker_init(parent: int) -> None:
    """A pool worker: one thread, and it stops when the process that started it dies."""
    import signal
    import threading

    torch.set_num_threads(1)
    try:  # Linux: the kernel sends SIGTERM when the parent dies (train() then checkpoints and exits)
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watchdog() -> None:  # the parent may have died before prctl, or there is no prctl
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watchdog, daemon=True, name="parent-watchdog").start()


def _devices() -> list[str]:
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def choose_executor(executor: str, pending: list[TrainConfig]) -> str:
    executor = executor if executor != "auto" else os.environ.get("WGAN_REPRO_EXECUTOR", "auto")
    if executor not in EXECUTORS:
        raise ConfigError(f"executor={executor!r} is not allowed: one of {', '.join(EXECUTORS)}")
    if executor != "auto":
        return executor
    heavy = [c for c in pending if c.iterations >= 100]
    parallel = (os.cpu_count() or 1) > 1 or len(_devices()) > 0
    return "pool" if len(heavy) >= 2 and parallel else "inprocess"


def expected_cost(cfg: TrainConfig) -> float:
    """A run's relative training cost, for submitting the longest runs first (a grid's last
    minutes then keep every worker busy instead of one worker finishing a long run alone)."""
    from .train import critic_steps_total

    critic_steps = critic_steps_total(cfg.iterations, cfg.n_critic, cfg.critic_schedule)
    critic_cost = 3.0 if cfg.gp_weight > 0 else 1.0  # the penalty's double backward
    size = float(cfg.dim if cfg.is_toy else cfg.image_size ** 2 * cfg.dim / 100)
    return (critic_steps * critic_cost + cfg.iterations) * size * cfg.batch_size


def longest_first(pending: list[TrainConfig]) -> list[TrainConfig]:
    return sorted(pending, key=expected_cost, reverse=True)


def run_grid(base: dict, variants: dict[str, dict], seeds: list[int], out_root: str | Path,
             executor: str = "auto", workers: int | None = None, per_gpu: int | None = None,
             ray_address: str | None = None, progress: bool = True, desc: str | None = None,
             scoring: ScoringSpec | None = None, seeds_of: dict[str, list[int]] | None = None) -> dict:
    """Train every (variant, seed) not finished yet, then load them all:
    {(variant, seed): TrainResult}, in the order of `variants` and `seeds`; finished runs are loaded,
    partial ones resume, each in out_root/<variant>/seed<k>-<config hash>. desc: the progress label
    (default: out_root's folder name).

    scoring: each run is also scored where it trained, right after training, while other
    workers still train; the scores are cached in its folder (`score_run`).
    seeds_of: variants that run other seeds than `seeds`, in the same pool (`grid_configs`).
    Progress: a bar in the notebook, and one line per finished run on the process's console.
    """
    from tqdm.auto import tqdm

    desc = desc or Path(out_root).name

    configs = grid_configs(base, variants, seeds, out_root, seeds_of=seeds_of)
    per_gpu = runs_per_gpu(per_gpu)
    pending = [c for c in configs.values() if not finished(c) or (scoring and not score_cached(c, scoring))]
    from .train import check_memory

    for c in pending:  # every CPU run that will train fits in memory, before any starts
        if c.device in ("cpu", "auto"):
            check_memory(c, torch.device("cpu"))
    kind = choose_executor(executor, pending)
    if kind != "inprocess":
        pending = longest_first(pending)
    bar = tqdm(total=len(configs), initial=len(configs) - len(pending), desc=f"{desc} ({kind})",
               disable=not progress, dynamic_ncols=True)
    console = _ConsoleProgress(desc, kind, len(configs), len(configs) - len(pending), progress)
    try:
        if pending:
            runner = {"inprocess": _run_inprocess, "pool": _run_pool, "ray": run_ray}[kind]
            runner(pending, lambda: (bar.update(), console.update()), workers=workers, per_gpu=per_gpu,
                   ray_address=ray_address, scoring=scoring)
    finally:
        bar.close()
    results = {key: load_run(cfg) for key, cfg in configs.items()}
    note = stale_code_note(list(results.values()), desc)
    if note:
        print(note, file=sys.stderr, flush=True)
    return results


def stale_code_note(results: list, desc: str = "runs") -> str | None:
    """One line when finished runs reused here were trained by other training code than this checkout's
    (rundir.code_hash differs, or was not recorded): their numbers are the code's that trained them."""
    now = code_hash()
    other = [r for r in results if r.code != now]
    if not other:
        return None
    unknown = sum(r.code is None for r in other)
    return (f"{desc}: {len(other)} of {len(results)} runs were trained by other training code than this checkout's "
            f"(code {now}; {unknown} trained before the code was recorded) and are reused as finished, with the "
            "numbers that code gave; to train them with this code, use another runs folder (--runs) or remove theirs")


class _ConsoleProgress:
    """'desc: 4/18 runs done (pool), 3.1 min, about 9 min left' on the process's own stderr: the
    console of `run-notebook` / `dvc repro`, where a notebook kernel's bar is not seen."""

    def __init__(self, desc: str, kind: str, total: int, done: int, enabled: bool):
        self.desc, self.kind, self.total, self.done, self.first = desc, kind, total, done, done
        self.start, self.enabled = time.monotonic(), enabled and sys.__stderr__ is not None

    def update(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        spent = time.monotonic() - self.start
        left = spent / (self.done - self.first) * (self.total - self.done)
        eta = f", about {left / 60:.0f} min left" if self.done < self.total else ""
        print(f"{self.desc}: {self.done}/{self.total} runs done ({self.kind}), {spent / 60:.1f} min{eta}",
              file=sys.__stderr__, flush=True)


def _run_inprocess(pending, advance, *, scoring=None, **_):
    for cfg in pending:
        _train_one(cfg.to_dict(), scoring)
        advance()


def _run_pool(pending, advance, *, per_gpu: int, workers=None, scoring=None, **_):
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    devices = _devices()
    jobs = [cfg.to_dict() for cfg in pending]
    on_gpu = [v for v in jobs if devices and v["device"] in ("auto", "cuda")]
    if on_gpu:  # one process per GPU, each training `per_gpu` runs at once (train_many)
        units = [(_train_group, g) for g in gpu_groups(on_gpu, devices, per_gpu)]
        units += [(_train_one, v) for v in jobs if v not in on_gpu]
        n = workers or len(devices)
    else:
        units = [(_train_one, v) for v in jobs]
        n = workers or os.cpu_count() or 1
    pool = ProcessPoolExecutor(max_workers=min(n, len(units)), mp_context=mp.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(fn, unit, scoring): (len(unit) if fn is _train_group else 1) for fn, unit in units}
        remaining = set(futures)
        while remaining:  # every finished run advances the progress at once; the first error stops the grid
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for f in done:
                if f.exception() is not None:
                    raise f.exception()
                for _ in range(futures[f]):
                    advance()
    except BaseException:
        # an error, Ctrl-C or SIGTERM here: cancel what has not started, stop what runs (each
        # running worker checkpoints at the end of its iteration and exits; a re-run resumes)
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _stop_pool(pool) -> None:
    import signal

    processes = list((pool._processes or {}).values())  # the executor offers no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()


# what a Ray worker needs from the driver's environment (workers inherit `ray start`'s, not ours)
