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
            cfg.out_dir = str(Path(out_root) / slug(name) / f"seed{seed}-{run_key(cfg)}")
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


def _train_one(values: dict) -> str:
    """Train (or resume) one run from its config dict; the unit of work of every executor."""
    from .train import train

    cfg = TrainConfig(**values)
    if not finished(cfg):
        if torch.device(cfg.device if cfg.device != "auto" else "cpu").type == "cpu":
            with _threads(1):  # one thread per CPU run: same numbers in every executor
                train(cfg)
        else:
            train(cfg)
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


def run_grid(base: dict, variants: dict[str, dict], seeds: list[int], out_root: str | Path,
             executor: str = "auto", workers: int | None = None, per_gpu: int = 2,
             ray_address: str | None = None, progress: bool = True, desc: str = "runs"):
    """Train every (variant, seed) not finished yet, then load them all:
    {(variant, seed): TrainResult}, in the order of `variants` and `seeds`."""
    from tqdm.auto import tqdm

    configs = grid_configs(base, variants, seeds, out_root)
    pending = [c for c in configs.values() if not finished(c)]
    kind = choose_executor(executor, pending)
    bar = tqdm(total=len(configs), initial=len(configs) - len(pending), desc=f"{desc} ({kind})",
               disable=not progress, dynamic_ncols=True)
    try:
        if pending:
            globals()[f"_run_{kind}"](pending, bar, workers=workers, per_gpu=per_gpu, ray_address=ray_address)
    finally:
        bar.close()
    return {key: load_run(cfg) for key, cfg in configs.items()}


def _run_inprocess(pending, bar, **_):
    for cfg in pending:
        _train_one(cfg.to_dict())
        bar.update()


def _run_pool(pending, bar, workers=None, per_gpu=2, **_):
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
        futures = [pool.submit(_train_one, v) for v in jobs]
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception() is not None:
                    for other in remaining:
                        other.cancel()
                    raise f.exception()
                bar.update()


def _run_ray(pending, bar, ray_address=None, per_gpu=2, **_):
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
        refs = [task.remote(c.to_dict()) for c in pending]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            ray.get(done)
            bar.update()
    finally:
        if started:
            ray.shutdown()


def load_run(cfg: TrainConfig):
    """A finished run from its folder: TrainResult with generator, critic and full history."""
    from .models import build_models
    from .train import TrainResult, pick_device, read_history

    state = torch.load(Path(cfg.out_dir) / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    generator, critic = build_models(cfg)
    generator.load_state_dict(state["generator"])
    critic.load_state_dict(state["critic"])
    device = pick_device(cfg.device)
    return TrainResult(cfg, generator.to(device), critic.to(device), Path(cfg.out_dir),
                       read_history(cfg.out_dir))
