"""FID from Inception features: torch-fidelity's `fid_statistics_to_metric` (scipy's sqrtm of a
2048 x 2048 matrix) against ours (`fidelity._fid`, the eigenvalues of a symmetric matrix), at
the sample counts the notebooks score: seconds per FID on one thread, and the relative
difference of the two values.

    python benchmarks/fid_speed.py [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch

from _machine import report
from wgan_repro import fidelity


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    g = torch.Generator().manual_seed(0)
    mix = torch.rand(64, 2048, generator=g)  # correlated, non-negative features of Inception's width
    rows = []
    for n_gen, n_ref in ((100, 500), (250, 500), (5000, 10000)):
        gen = (torch.randn(n_gen, 64, generator=g) @ mix * 1.3 + 0.5).relu() * 0.1
        ref = (torch.randn(n_ref, 64, generator=g) @ mix).relu() * 0.1
        t0 = time.perf_counter()
        theirs = fid_statistics_to_metric(fid_features_to_statistics(gen.double()),
                                          fid_features_to_statistics(ref.double()), verbose=False)
        t1 = time.perf_counter()
        ours = fidelity._fid(gen, ref)
        t2 = time.perf_counter()
        theirs = theirs["frechet_inception_distance"]
        rows.append({"samples": f"{n_gen} vs {n_ref}", "torch_fidelity_s": t1 - t0, "ours_s": t2 - t1,
                     "speedup": (t1 - t0) / (t2 - t1), "relative_difference": abs(ours - theirs) / abs(theirs)})
    report("fid_speed", rows, f"2048-d features, float64, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
