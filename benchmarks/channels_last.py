"""Alg. 1's bare loop with the image models in channels-last memory format against the default
(contiguous) format, at the quick profile's image settings, alternated A B A B in one process so
a shared machine's drift falls on both.

    python benchmarks/channels_last.py [--iterations 20] [--repeats 2]
"""
from __future__ import annotations

import argparse

import torch

import trainer_overhead
from _machine import report
from wgan_repro import models
from wgan_repro.config import TrainConfig

CASES = {  # the quick profile's image notebooks (params.yaml, configs/)
    "03 CIFAR-10 gp-dcgan 16 GP (Adam)": dict(dataset="cifar10", image_size=32, arch="gp-dcgan", dim=16,
                                               gp_weight=10.0, d_norm="none", optimizer="adam", lr_g=1e-4,
                                               lr_d=1e-4, batch_size=64),
    "03 CIFAR-10 gp-dcgan 16 clip": dict(dataset="cifar10", image_size=32, arch="gp-dcgan", dim=16, clip_value=0.01,
                                         d_norm="none", optimizer="rmsprop", batch_size=64),
    "05 MNIST gp-dcgan 16 clip": dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=16, clip_value=0.01,
                                      d_norm="batch", optimizer="rmsprop", batch_size=64),
    "02 MNIST dcgan 16 clip": dict(dataset="mnist", image_size=32, arch="dcgan", dim=16, clip_value=0.01,
                                   optimizer="rmsprop", batch_size=64),
}


def timed(values: dict, iterations: int, memory_format: torch.memory_format) -> float:
    """bare_loop's seconds per generator iteration with both models in `memory_format`."""
    trainer_overhead.build_models = lambda cfg: tuple(m.to(memory_format=memory_format)
                                                      for m in models.build_models(cfg))
    try:
        return trainer_overhead.bare_loop(TrainConfig(**values, iterations=iterations, out_dir="-", progress=False))
    finally:
        trainer_overhead.build_models = models.build_models


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for name, values in CASES.items():
        t = {"contiguous": [], "channels_last": []}
        for _ in range(args.repeats):
            t["contiguous"].append(timed(values, args.iterations, torch.contiguous_format))
            t["channels_last"].append(timed(values, args.iterations, torch.channels_last))
        a, b = min(t["contiguous"]), min(t["channels_last"])
        rows.append({"case": name, "contiguous_s_per_it": a, "channels_last_s_per_it": b, "speed-up": a / b})
    report("channels_last", rows, f"bare Alg. 1 loop, {args.iterations} generator iterations x {args.repeats} "
           f"alternated repeats (fastest kept), {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
