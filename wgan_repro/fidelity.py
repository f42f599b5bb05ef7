"""FID, KID and IS of generated images against a reference split, through torch-fidelity.

KID and IS are torch-fidelity's own functions (`kid_features_to_metric`, `isc_features_to_metric`);
FID is the value of its `fid_statistics_to_metric`, computed without a 2048x2048 sqrtm when a side
has fewer than 2048 samples (`_fid`); all on torch-fidelity's extractor with the offline weights
(`inception`), fed uint8 RGB images exactly as it expects (grayscale replicated to 3 channels).

A non-finite FID or KID is an error, never a number. `ScoringSpec` names one way of scoring a
run (the grid scores each run with it and caches the result in the run's folder).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .config import ConfigError, WganReproError
from .device import available_memory, resolve_device
from .data import load_image_tensor, source_key
from .files import cache_dir, cached_tensor
from .inception import EXTRACTOR, LOGITS, extract, make_extractor, offline_weights, standard_weights

REFERENCES = {"mnist-train": "mnist", "fashion-mnist-train": "fashion-mnist", "cifar10-train": "cifar10"}
FEATURE_BYTES = 2048 * 4  # one image's float32 Inception features


class ScoreNotFinite(WganReproError, ArithmeticError):
    """FID or KID came out NaN or infinite: an input (samples or reference features) is broken."""


@dataclass(frozen=True)
class ScoringSpec:
    """How a run is scored: FID/KID (and IS) of n_samples generated images against n_reference
    images of `reference`, for the final generator or (checkpoints=True) every kept checkpoint.
    Written once per notebook; its fields are part of the score cache key."""

    reference: str
    image_size: int | None
    n_samples: int
    n_reference: int | None
    isc: bool = True
    checkpoints: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------- reference sets
def reference_images(reference: str, image_size: int, n: int | None, data_root=None, seed: int = 0) -> torch.Tensor:
    """`n` images of a reference split (seeded subsample; all when n is None) as uint8."""
    if reference in REFERENCES:
        images = load_image_tensor(REFERENCES[reference], image_size, data_root)
    elif Path(reference).is_dir():
        from .data import ImageFiles

        files = ImageFiles(reference, image_size)
        images = torch.stack([files[i] for i in range(len(files))])
    else:
        raise ValueError(f"reference={reference!r} is not allowed: one of {', '.join(REFERENCES)} "
                         f"or an image folder")
    if n is not None and n < len(images):
        images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]
    return images


def reference_tag(reference: str, data_root=None) -> str:
    """What a reference's images are read from: a named split with its source files' manifest (`data.source_key`),
    or an image folder's manifest. Reference features and every cached score are keyed by it."""
    if reference in REFERENCES:
        return f"{reference}-{source_key(REFERENCES[reference], data_root)}"
    folder, h = Path(reference), hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):  # as data.source_key (data.py is training code)
        st = f.stat()
        h.update(f"{f.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "folder-" + h.hexdigest()[:12]


def reference_features(reference: str, image_size: int, n: int | None = 10_000, data_root=None,
                       device: str = "auto", batch_size: int = 50, progress: bool = True) -> torch.Tensor:
    """2048-d features of a reference split, cached by (reference, the data it was read from, size, n, weights
    hash): a named split carries its source files' manifest (`data.source_key`), an image folder a manifest of
    its files, so other data never gets these features."""
    weights, digest = offline_weights()
    tag = reference_tag(reference, data_root)
    path = cache_dir() / "fidelity" / f"ref-{tag}-{image_size}px-n{n or 'all'}-w{digest[:12]}-{EXTRACTOR}.pt"

    def build() -> torch.Tensor:
        images = reference_images(reference, image_size, n, data_root)
        extractor = make_extractor(weights, device=resolve_device(device))
        (features,) = extract(extractor, images, batch_size, progress, desc=f"reference {reference}")
        return features

    return cached_tensor(path, build, f"reference features ({reference})")


# ---------------------------------------------------------------------- scoring
def _fid(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """FID = |mu1 - mu2|^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2), the value of torch-fidelity's
    `fid_statistics_to_metric`. That function takes `scipy.linalg.sqrtm` of a 2048x2048 matrix;
    when one side has n < 2048 samples (every quick-profile score) the trace needs far less:
    S = C^T C / (n - 1) with C its centred features, and the nonzero eigenvalues of S S_other are
    those of the symmetric PSD n x n matrix C S_other C^T / (n - 1), so Tr sqrt(S1 S2) is the sum
    of their square roots (benchmarks/fid_speed.py: 15-20x faster at 100-250 samples; within
    1e-4 relative of torch-fidelity's value, tested). With n >= 2048 on both sides it is
    torch-fidelity's function itself.
    """
    x1, x2 = f1.double(), f2.double()
    if len(x1) > len(x2):
        x1, x2 = x2, x1  # Tr sqrt(S1 S2) = Tr sqrt(S2 S1): reduce over the smaller set
    if len(x1) > x1.shape[1]:
        from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

        return fid_statistics_to_metric(fid_features_to_statistics(x1), fid_features_to_statistics(x2),
                                        verbose=False)["frechet_inception_distance"]
    mu1, mu2 = x1.mean(0), x2.mean(0)
    c1 = x1 - mu1
    s2 = torch.cov(x2.T)
    inner = c1 @ s2 @ c1.T / (len(x1) - 1)
    tr_covmean = torch.linalg.eigvalsh(inner).clamp(min=0).sqrt().sum()
    tr1 = (c1 * c1).sum() / (len(x1) - 1)
    return float(((mu1 - mu2) ** 2).sum() + tr1 + s2.trace() - 2 * tr_covmean)


def _kid(f1: torch.Tensor, f2: torch.Tensor, subset_size: int, subsets: int = 100,
         seed: int = 0) -> tuple[float, float]:
    from torch_fidelity.metric_kid import kid_features_to_metric

    out = kid_features_to_metric(f1, f2, kid_subsets=subsets, kid_subset_size=subset_size, verbose=False,
                                 rng_seed=seed, kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


def check_counts(n_samples: int, n_reference: int | None, field: str = "n_samples") -> None:
    """Counts a score needs, and memory for their features, checked before any work starts."""
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ConfigError(f"{field}={n_samples!r} is not allowed: FID and KID need at least 2 generated images")
    if n_reference is not None and (not isinstance(n_reference, int) or n_reference < 2):
        raise ConfigError(f"n_reference={n_reference!r} is not allowed: at least 2 reference images (or all: null/0)")
    need = (n_samples + (n_reference or 0)) * FEATURE_BYTES * 2  # features, and one copy while scoring
    have = available_memory()
    if have and need > have:
        raise ConfigError(f"{field}={n_samples} is not allowed here: its features need about {need / 2**30:.1f} GiB, "
                          f"this machine has {have / 2**30:.1f} GiB available")


def _generated_batches(samples, n_samples: int, seed: int, image_size: int | None):
    """uint8 image batches of `samples` (a generator module drawn in 250s with seeded noise, an
    image tensor, or an image folder), never all generated images at once."""
    from .data import ImageFiles, to_uint8
    from .metrics import iter_samples

    if isinstance(samples, torch.nn.Module):
        for batch in iter_samples(samples, n_samples, seed=seed, batch_size=250):
            yield to_uint8(batch)
    elif isinstance(samples, torch.Tensor):
        yield samples
    elif isinstance(samples, (str, Path)):
        files = ImageFiles(samples, image_size or 32)
        yield torch.stack([files[i] for i in range(len(files))])
    else:
        raise TypeError("samples must be a generator module, an image tensor or an image folder")


def score(samples, reference: str = "cifar10-train", n_reference: int | None = 10_000, n_samples: int = 5000,
          image_size: int | None = None, kid_subset_size: int = 1000, isc: bool = True, seed: int = 0,
          device: str = "auto", batch_size: int = 50, data_root=None, progress: bool = False,
          allow_download: bool = True) -> dict:
    """FID, KID (mean, std) and IS (mean, std, or None with a reason) of `samples` vs `reference`.

    samples: a generator module (n_samples images drawn with `seed`), an image tensor
    (uint8 or float in [-1, 1]), or an image folder. The reference features are cached, so
    a second evaluation computes only the generated images' features.
    """
    if isinstance(samples, torch.nn.Module):
        check_counts(n_samples, n_reference)
    dev = resolve_device(device)
    weights, digest = offline_weights()
    extractor = make_extractor(weights, device=dev)
    logits_weights, reason = standard_weights(allow_download) if isc else (None, "not requested")
    feats, logits, size = [], [], image_size
    for images in _generated_batches(samples, n_samples, seed, image_size):
        size = size or images.shape[-1]
        if images.shape[-1] != size:
            raise ValueError(f"image_size={size} is not allowed: the samples are {images.shape[-1]} px")
        feats += extract(extractor, images, batch_size, progress, desc="generated")
        if logits_weights is not None:
            logits += extract(make_extractor(logits_weights, (LOGITS,), dev), images, batch_size, progress)
    feats = torch.cat(feats)
    if len(feats) < 2:
        raise ConfigError(f"samples={len(feats)} images is not allowed: FID and KID need at least 2")
    ref = reference_features(reference, size, n_reference, data_root, device, batch_size, progress)
    for what, f in (("generated images' features", feats), ("reference features", ref)):
        if not torch.isfinite(f).all():
            raise ScoreNotFinite(f"FID/KID against {reference} cannot be computed: the {what} are not finite "
                                 f"(a diverged generator, or a broken cache file under {cache_dir()})")
    subset = min(kid_subset_size, len(feats), len(ref))
    kid_mean, kid_std = _kid(feats, ref, subset, seed=seed)
    fid = _fid(feats, ref)
    if not (math.isfinite(fid) and math.isfinite(kid_mean)):
        raise ScoreNotFinite(f"FID={fid}, KID={kid_mean} against {reference}: not finite numbers")
    result = {
        "fid": fid, "kid_mean": kid_mean, "kid_std": kid_std, "kid_subset_size": subset,
        "isc_mean": None, "isc_std": None, "isc_unavailable": reason or None,
        "n_samples": len(feats), "n_reference": len(ref), "reference": reference, "image_size": size,
        "weights_sha256": digest,
    }
    if logits:
        from torch_fidelity.metric_isc import isc_features_to_metric

        out = isc_features_to_metric(torch.cat(logits), splits=10, shuffle=True, rng_seed=seed)
        result["isc_mean"], result["isc_std"] = out["inception_score_mean"], out["inception_score_std"]
    return result


def score_key(spec: ScoringSpec, checkpoints: list[dict]) -> str:
    """Cache key of a run's scores: the spec, what each checkpoint holds (iteration and content
    hash: a resumed or retrained run never gets the old scores), the reference data they were scored
    against (its manifest) and how scores are computed."""
    _, digest = offline_weights()
    key = dict(spec.as_dict(), checkpoints=checkpoints, weights=digest, extractor=EXTRACTOR,
               fid="eigenvalues-below-2048",  # `_fid`'s route; see its docstring
               reference_data=reference_tag(spec.reference))  # other reference images: other scores
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


__all__ = ["REFERENCES", "ScoreNotFinite", "ScoringSpec", "check_counts", "reference_features", "score", "score_key"]
