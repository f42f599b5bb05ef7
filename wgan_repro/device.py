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
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={name!r} is not allowed: auto, cpu, cuda or cuda:<index>") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device={name!r} is not allowed: auto, cpu, cuda or cuda:<index>")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} is not allowed here: no CUDA device is visible (use 'auto' or 'cpu')")
    return device


def _cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes left under this process's cgroup memory limit (v2: memory.max - memory.current; v1:
    memory/memory.limit_in_bytes - usage), None without a limit."""
    for limit, used in (("memory.max", "memory.current"),
                        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            text = (root / limit).read_text().strip()
            if text == "max" or int(text) >= 2**60:  # v2's "max", v1's page-rounded 2**63: no limit
                return None
            return max(0, int(text) - int((root / used).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_memory(device=None) -> int:
    """Bytes a new allocation can use on `device`: free CUDA memory, else the smaller of MemAvailable and the
    room under the cgroup's limit (a container is killed at its limit, whatever the host has); 0 when unknown."""
    import torch

    if device is not None and torch.device(device).type == "cuda":
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    host = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                host = int(line.split()[1]) * 1024
    except OSError:
        pass
    room = _cgroup_room()
    return min(host, room) if host and room is not None else (room if room is not None else host)


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
