"""Where runs compute: the device a config names, its free memory, the CPU thread count and runs per GPU."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from .config import ConfigError

def resolve_device(name: str = "auto"):
    """'auto' -> CUDA when visible, else CPU; a CUDA name without a visible device is a ConfigError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} is not allowed here: no CUDA device is visible (use 'auto' or 'cpu')")
    return torch.device(name)


def available_memory(device=None) -> int:
    """Bytes a new allocation can use on `device`: free CUDA memory, else MemAvailable; 0 when unknown."""
    import torch

    if device is not None and torch.device(device).type == "cuda":
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextmanager
def cpu_threads(n: int):
    """torch's intra-op threads set to n inside the block (every CPU run and score uses one: the
    numbers are then the same whichever process or executor computed them)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = ["available_memory", "cpu_threads", "resolve_device", "runs_per_gpu"]


def runs_per_gpu(per_gpu: int | None = None) -> int:
    """Runs sharing one GPU: `per_gpu`, else $WGAN_REPRO_PER_GPU, else 4. The pool trains them in one
    process per GPU (`train.train_many`). Measured on an H100 with 03's DIM-64 WGAN-GP as separate
    processes (benchmarks/gpu_k_runs.py): 4 runs gave 2.9 x one run's throughput, 12 gave 4.1 x;
    runs in one process wait for benchmarks/gpu_speed.py on a GPU."""
    raw = per_gpu if per_gpu is not None else os.environ.get("WGAN_REPRO_PER_GPU", "4")
    try:
        n = int(str(raw))  # via str: 2.5, "2.5" and True are refused, not truncated
    except ValueError:
        n = 0
    if n < 1:
        field = "per_gpu" if per_gpu is not None else "WGAN_REPRO_PER_GPU"
        raise ConfigError(f"{field}={raw!r} is not allowed: a whole number of runs per GPU, 1 or more")
    return n
