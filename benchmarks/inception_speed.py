"""Inception feature extraction (torch-fidelity's inception-v3-compat, our offline weights):
images per second of the network as torch-fidelity builds it, with channels-last convolutions,
and with batch norm also folded into the convolutions (what `inception.make_extractor` builds),
and how far the 2048-d features move from torch-fidelity's own.

    python benchmarks/inception_speed.py [--images 100] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch

from _machine import report
from wgan_repro import inception


def torch_fidelity_as_built(weights):
    """torch-fidelity's network as its constructor builds it (NCHW, batch norm unfolded), the
    weights loaded weights-only by us."""
    import torch

    extractor = inception._skeleton([inception.FEATURES])
    torch.nn.Module.load_state_dict(extractor, inception.load_weights_only(weights))
    return extractor.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    weights, _ = inception.offline_weights()
    images = torch.randint(0, 256, (args.images, 1, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    builds = {
        "torch-fidelity as built (NCHW)": torch_fidelity_as_built(weights),
        "channels-last": torch_fidelity_as_built(weights).to(memory_format=torch.channels_last),
        "channels-last + BN folded (ours)": inception.make_extractor.__wrapped__(weights),
    }
    seconds, feats = {}, {}
    for _ in range(2):  # alternate the builds, keep the second round (warm)
        for name, extractor in builds.items():
            inception.extract(extractor, images[:10])
            t0 = time.perf_counter()
            (feats[name],) = inception.extract(extractor, images)
            seconds[name] = time.perf_counter() - t0
    base = next(iter(builds))
    rows = [{"build": name, "images_per_s": args.images / seconds[name], "speedup": seconds[base] / seconds[name],
             "max_abs_feature_diff": float((feats[name] - feats[base]).abs().max())} for name in builds]
    report("inception_speed", rows, f"{args.images} MNIST-sized images (resized to 299 by torch-fidelity), "
           f"batch 50, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
