"""Grids of (variant x seed) runs: content-addressed folders and one executor interface.

A run's folder is keyed by a hash of every config field that can change its numbers, so
- a finished run is loaded, not retrained;
- a partial one (killed mid-way, even by SIGKILL) resumes from its last checkpoint;
- a changed hyper-parameter makes a new folder, never a silent overwrite.

Executors (all train into those folders; results are then read back from disk, so they are
identical whichever executor ran them: every CPU run uses one thread):
- 'inprocess': one run after another in this process;
- 'pool': long-lived worker processes (one thread each on CPU; on GPUs, workers are spread
  over the visible devices, `per_gpu` on each);
- 'ray': Ray tasks (`pip install -e '.[ray]'`; address from `ray_address` or $RAY_ADDRESS,
  else a local Ray; fractional GPUs so several small GANs share a device);
- 'auto' (default, or $WGAN_REPRO_EXECUTOR): 'pool' when two or more non-trivial runs are
  pending on a multi-core CPU or on GPUs, else 'inprocess'.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import torch

from .config import ConfigError, TrainConfig, config_from_dict

EXECUTORS = ("auto", "inprocess", "pool", "ray")

# Fields that never change a run's numbers: not part of its key.
NOT_IN_KEY = {"out_dir", "progress", "resume", "dvclive", "device", "data_root"}


def run_key(cfg: TrainConfig) -> str:
    values = {k: v for k, v in cfg.to_dict().items() if k not in NOT_IN_KEY}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def slug(name: str) -> str:
    """'DCGAN / WGAN' -> 'DCGAN_WGAN' (safe in any file system)."""
    return re.sub(r"[^A-Za-z0-9.=_-]+", "_", name).strip("_")


def grid_configs(base: dict, variants: dict[str, dict], seeds: list[int], out_root: str | Path,
                 progress: bool = False) -> dict[tuple[str, int], TrainConfig]:
    """Every (variant, seed) config, validated before any work starts, each in its keyed folder."""
    configs = {}
    for name, overrides in variants.items():
        for seed in seeds:
            values = {**base, **overrides, "seed": seed, "progress": progress, "resume": True}
            cfg = config_from_dict({**values, "out_dir": "-"})
            # 'a/b' names nest: out_root/a/b/seed<k>-<hash>
            folder = Path(out_root).joinpath(*(slug(part) for part in name.split("/")))
            cfg.out_dir = str(folder / f"seed{seed}-{run_key(cfg)}")
            configs[(name, seed)] = cfg
    return configs


def finished(cfg: TrainConfig) -> bool:
    """The run's last checkpoint is at its final iteration."""
    last = Path(cfg.out_dir) / "checkpoints" / "last.pt"
    if not last.is_file():
        return False
    try:
        return torch.load(last, map_location="cpu", weights_only=False)["iteration"] == cfg.iterations
    except Exception:  # a torn or foreign file: train() decides what to do with it
        return False


@contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_one(values: dict, scoring: dict | None = None) -> str:
    """Train (or resume) one run from its config dict, then score it when asked
    (`fidelity.score_run`, cached in its folder); the unit of work of every executor."""
    from .train import train

    cfg = TrainConfig(**values)
    if not finished(cfg):
        if torch.device(cfg.device if cfg.device != "auto" else "cpu").type == "cpu":
            with _threads(1):  # one thread per CPU run: same numbers in every executor
                train(cfg)
        else:
            train(cfg)
    if scoring is not None:
        from .fidelity import score_run

        score_run(cfg.out_dir, **scoring)
    return cfg.out_dir


def _worker_init() -> None:
    torch.set_num_threads(1)


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
             executor: str = "auto", workers: int | None = None, per_gpu: int = 2,
             ray_address: str | None = None, progress: bool = True, desc: str = "runs",
             scoring: dict | None = None):
    """Train every (variant, seed) not finished yet, then load them all:
    {(variant, seed): TrainResult}, in the order of `variants` and `seeds`.

    scoring: `fidelity.score_run` arguments (reference, n_samples, n_reference, ...): each run
    is scored where it trained, right after training, while other workers still train; the
    scores are cached in its folder for `experiments.score_runs` / `score_checkpoints`.
    """
    from tqdm.auto import tqdm

    from .fidelity import score_run_cached

    configs = grid_configs(base, variants, seeds, out_root)
    pending = [c for c in configs.values()
               if not finished(c) or (scoring and not score_run_cached(c.out_dir, **scoring))]
    kind = choose_executor(executor, pending)
    if kind != "inprocess":
        pending = longest_first(pending)
    bar = tqdm(total=len(configs), initial=len(configs) - len(pending), desc=f"{desc} ({kind})",
               disable=not progress, dynamic_ncols=True)
    try:
        if pending:
            globals()[f"_run_{kind}"](pending, bar, workers=workers, per_gpu=per_gpu, ray_address=ray_address,
                                      scoring=scoring)
    finally:
        bar.close()
    return {key: load_run(cfg) for key, cfg in configs.items()}


def _run_inprocess(pending, bar, scoring=None, **_):
    for cfg in pending:
        _train_one(cfg.to_dict(), scoring)
        bar.update()


def _run_pool(pending, bar, workers=None, per_gpu=2, scoring=None, **_):
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    devices = _devices()
    jobs = []
    for i, cfg in enumerate(pending):
        values = cfg.to_dict()
        if devices and cfg.device in ("auto", "cuda"):
            values["device"] = devices[i % len(devices)]  # spread runs over the visible GPUs
        jobs.append(values)
    n = workers or (len(devices) * per_gpu if devices else os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=min(n, len(jobs)), mp_context=mp.get_context("spawn"),
                             initializer=_worker_init) as pool:
        futures = [pool.submit(_train_one, v, scoring) for v in jobs]
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    for other in remaining:
                        other.cancel()
                    raise f.exception()
                bar.update()


def _run_ray(pending, bar, ray_address=None, per_gpu=2, scoring=None, **_):
    try:
        import ray
    except ImportError as e:
        raise ConfigError("executor='ray' is not allowed here: ray is not installed "
                          "(pip install -e '.[ray]')") from e
    started = not ray.is_initialized()
    if started:
        ray.init(address=ray_address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=False)
    try:
        gpus = 1.0 / per_gpu if ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus)(_train_one)
        refs = [task.remote(c.to_dict(), scoring) for c in pending]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            ray.get(done)
            bar.update()
    finally:
        if started:
            ray.shutdown()


def load_run(cfg: TrainConfig, iteration: int | None = None):
    """A finished run from its folder: TrainResult with generator, critic and history.

    iteration: the run as it was after that many generator iterations, from a kept checkpoint
    (`keep_checkpoints`), with the history before it. Same seed, same RNG stream: it is the run
    that would have stopped there, so a long run also gives every shorter one.
    """
    from .models import build_models
    from .train import TrainResult, pick_device, read_history

    folder = Path(cfg.out_dir) / "checkpoints"
    if iteration is None or iteration == cfg.iterations:
        path, iteration = folder / "last.pt", cfg.iterations
    else:
        path = folder / f"ckpt_{iteration:06d}.pt"
        if not path.is_file():
            kept = sorted(int(p.stem.split("_")[1]) for p in folder.glob("ckpt_*.pt"))
            raise ConfigError(f"iteration={iteration} is not allowed for {cfg.out_dir}: "
                              f"kept checkpoints are at {kept or 'none (keep_checkpoints is off)'}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    generator, critic = build_models(cfg)
    generator.load_state_dict(state["generator"])
    critic.load_state_dict(state["critic"])
    device = pick_device(cfg.device)
    history = [row for row in read_history(cfg.out_dir) if row["iteration"] < iteration]
    return TrainResult(cfg, generator.to(device), critic.to(device), Path(cfg.out_dir), history)
