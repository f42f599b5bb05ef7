"""Grid throughput by executor: the same (variant x seed) grid run one after another by calling
train() with every core's threads (what a notebook did before executors), then through run_grid's
executors: in-process (one 1-thread run at a time), the pool (one 1-thread worker per core) and
Ray when it is installed. The executors train into fresh folders and must agree bit for bit
(checked); the all-threads baseline may differ in the last bits (another reduction order).

    python benchmarks/executors.py [--iterations 300] [--kind toy|mnist]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from _machine import report
from wgan_repro.grid import run_grid

GRIDS = {
    "toy": dict(dataset="8gaussians", arch="toy", dim=128, gp_weight=0.1, d_norm="none", optimizer="adam",
                lr_g=1e-4, lr_d=1e-4, batch_size=256),
    "mnist": dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=16, gp_weight=10.0, d_norm="none",
                  g_batchnorm=False, optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=50),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--kind", choices=list(GRIDS), default="toy")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    base = dict(GRIDS[args.kind], iterations=args.iterations, sample_every=0, checkpoint_every=0, dvclive=False)
    variants, seeds = {"A": {}}, list(range(args.seeds))
    executors = ["inprocess", "pool"]
    try:
        import ray  # noqa: F401

        executors.append("ray")
    except ImportError:
        pass
    rows, weights = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        from wgan_repro.stream import BatchStream
        from wgan_repro.grid import grid_configs
        from wgan_repro.train import train

        # warm the dataset cache first: the first run to read a dataset converts it once
        BatchStream(next(iter(grid_configs(base, variants, seeds, tmp).values())), torch.device("cpu"))

        torch.set_num_threads(os.cpu_count() or 1)
        t0 = time.perf_counter()
        for cfg in grid_configs(base, variants, seeds, tmp).values():
            train(cfg)
        seconds = time.perf_counter() - t0
    rows.append({"executor": f"sequential, {torch.get_num_threads()} threads", "runs": len(seeds),
                 "seconds": seconds, "runs_per_minute": 60 * len(seeds) / seconds})
    for ex in executors:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = run_grid(base, variants, seeds, tmp, executor=ex, progress=False)
            seconds = time.perf_counter() - t0
        weights[ex] = torch.cat([p.flatten() for r in res.values() for p in r.generator.parameters()])
        rows.append({"executor": ex, "runs": len(res), "seconds": seconds,
                     "runs_per_minute": 60 * len(res) / seconds})
    for row in rows:
        row["speedup_vs_sequential_all_threads"] = rows[0]["seconds"] / row["seconds"]
        if row["executor"] in weights:
            row["same_numbers_as_inprocess"] = bool(torch.equal(weights[row["executor"]], weights["inprocess"]))
    report(f"executors_{args.kind}", rows,
           f"{args.seeds} runs of {args.iterations} generator iterations ({args.kind}); "
           "seconds include worker start-up")


if __name__ == "__main__":
    main()
