"""Inception feature extraction (torch-fidelity's inception-v3-compat, our offline weights):
images per second with contiguous (NCHW) vs channels-last convolutions, and how far the
2048-d features move. make_extractor uses channels-last.

    python benchmarks/inception_layout.py [--images 100] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch

from _machine import report
from wgan_repro import fidelity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    weights, _ = fidelity.offline_weights()
    images = torch.randint(0, 256, (args.images, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    extractor = fidelity.make_extractor.__wrapped__(weights)  # channels-last, as scoring uses it
    layouts = {"contiguous": lambda: extractor.to(memory_format=torch.contiguous_format),
               "channels_last": lambda: extractor.to(memory_format=torch.channels_last)}
    seconds, feats = {}, {}
    for _ in range(2):  # alternate, keep the second round (warm)
        for name, setup in layouts.items():
            setup()
            fidelity.extract(extractor, images[:10])
            t0 = time.perf_counter()
            (feats[name],) = fidelity.extract(extractor, images)
            seconds[name] = time.perf_counter() - t0
    rows = [{"layout": name, "images_per_s": args.images / seconds[name],
             "speedup": seconds["contiguous"] / seconds[name],
             "max_abs_feature_diff": float((feats[name] - feats["contiguous"]).abs().max())} for name in layouts]
    report("inception_layout", rows, f"{args.images} MNIST-sized images (resized to 299 by torch-fidelity), "
           f"batch 50, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
