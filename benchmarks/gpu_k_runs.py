"""GPU: generator iterations per second of the CIFAR-10 DCGAN WGAN-GP (gan_cifar.py, batch 64)
for 1 and K runs sharing one device (K worker processes of the pool executor). Needs CUDA.

    python benchmarks/gpu_k_runs.py [--iterations 300] [--k 1 2 4] [--dim 64] [--results DIR]

(--results: where the JSON goes, e.g. the device tool's $OUT: the repository copy there does not come back.)
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from _machine import report
from wgan_repro.presets import load_preset as preset
from wgan_repro.grid import run_grid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--results", type=Path, default=None, help="folder for the JSON (default benchmarks/results)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_k_runs: no CUDA device is visible")
    base = preset("cifar10_wgan_gp", dim=args.dim, iterations=args.iterations, sample_every=0, checkpoint_every=0,
                  dvclive=False, device="cuda")
    rows = []
    for k in args.k:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_grid(base, {"gp": {}}, list(range(k)), tmp, executor="pool", per_gpu=k, progress=False)
            seconds = time.perf_counter() - t0
        rows.append({"runs_per_gpu": k, "seconds": seconds,
                     "generator_its_per_s_total": k * args.iterations / seconds,
                     "generator_its_per_s_per_run": args.iterations / seconds})
    for r in rows:
        r["throughput_vs_1"] = r["generator_its_per_s_total"] / rows[0]["generator_its_per_s_total"]
    report("gpu_k_runs", rows, f"CIFAR-10 gan_cifar.py WGAN-GP, DIM {args.dim}, batch 64, {args.iterations} "
           "generator iterations per run; seconds include process start-up", args.results)


if __name__ == "__main__":
    main()
