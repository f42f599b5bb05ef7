"""Files on disk: the cache folder, atomic writes, and verified cache entries.

Nothing read back from disk is trusted:
- every torch file is loaded weights-only (`load_weights_only`): a checkpoint or cache file
  cannot run code;
- every cache entry (data tensors, mapped Inception weights, reference features, scores) has a
  sidecar `<name>.sha256` holding its content hash and size, written after the entry itself. An
  entry whose sidecar is missing or disagrees, or that cannot be read, is rebuilt once, and one
  line says so (`load_verified` / `read_verified_text`).
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import torch


def cache_dir() -> Path:
    """Writable cache for extracted data, tensors, weights and reference statistics:
    $WGAN_REPRO_CACHE, else ~/.cache/wgan-repro."""
    path = Path(os.environ.get("WGAN_REPRO_CACHE", Path.home() / ".cache" / "wgan-repro")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------- atomic writes
def _atomic_write(path: str | os.PathLike, write, sealed: bool = False) -> None:
    """write(fh) into a temporary file in the same folder (created exclusively: mkstemp, never through a planted
    link), then rename: never a half-written file. sealed: the content hash is written beside it *before* the
    entry takes its name, so a reader never finds the entry without its hash (nor does the writer read it back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if sealed:
            atomic_write_text(_sidecar(path), f"{file_sha256(tmp)} {Path(tmp).stat().st_size}\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save(obj, path: str | os.PathLike) -> None:
    """torch.save, atomically."""
    _atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Path.write_text, atomically."""
    _atomic_write(path, lambda fh: fh.write(text.encode()))


# the modules whose code decides a run's numbers: a checkpoint records their hash (`code_hash`)
TRAINING_CODE = ("config", "cudagraphs", "data", "device", "models", "objectives", "stream", "toy", "train")


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 (16 hex digits) of the training code's source (TRAINING_CODE), stored in every checkpoint."""
    h = hashlib.sha256()
    for name in TRAINING_CODE:
        h.update(name.encode() + b"\0" + (Path(__file__).parent / f"{name}.py").read_bytes() + b"\0")
    return h.hexdigest()[:16]


def compact_png(path: str | os.PathLike) -> None:
    """Re-encode a PNG losslessly and smaller: an opaque alpha channel dropped, a palette where the image has at
    most 256 colours (kept only if it decodes to the very same pixels), maximum compression."""
    from PIL import Image

    path = Path(path)
    with Image.open(path) as im:
        im.load()
    if im.mode == "RGBA" and im.getchannel("A").getextrema() == (255, 255):
        im = im.convert("RGB")
    if im.mode == "RGB" and im.getcolors(maxcolors=256) is not None:
        pal = im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        if pal.convert("RGB").tobytes() == im.tobytes():
            im = pal
    _atomic_write(path, lambda fh: im.save(fh, "PNG", optimize=True))


# ---------------------------------------------------------------------- reading
@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (memoised per process while its size and mtime stay the same)."""
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def load_weights_only(path: str | os.PathLike, map_location="cpu"):
    """torch.load with weights_only=True: tensors and plain containers only, never code."""
    return torch.load(path, map_location=map_location, weights_only=True)


# ---------------------------------------------------------------------- verified cache entries
def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def seal(path: Path) -> None:
    """Write the content hash and size of `path` beside it."""
    atomic_write_text(_sidecar(path), f"{file_sha256(path)} {path.stat().st_size}\n")


def sealed(path: Path) -> bool:
    """`path` exists and matches the hash beside it (nothing is removed)."""
    side = _sidecar(path)
    try:
        digest, size = side.read_text().split()
        return path.is_file() and int(size) == path.stat().st_size and digest == file_sha256(path)
    except (OSError, ValueError):
        return False


def write_sealed_bytes(path: str | os.PathLike, content: bytes) -> None:
    _atomic_write(path, lambda fh: fh.write(content), sealed=True)


def verified(path: Path, what: str) -> bool:
    """The entry exists and matches its sidecar; a damaged entry is removed, with one line."""
    if not path.is_file():
        return False
    side = _sidecar(path)
    why = None
    try:
        digest, size = side.read_text().split()
        if int(size) != path.stat().st_size:
            why = f"its size is {path.stat().st_size} bytes, {size} were written"
        elif digest != file_sha256(path):
            why = "its content hash differs from the one written with it"
    except FileNotFoundError:
        why = "it has no content hash beside it (written by an older version, or the write was cut short)"
    except (OSError, ValueError):
        why = f"its hash file {side.name} cannot be read"
    if why is None:
        return True
    discard(path, what, why)
    return False


def discard(path: Path, what: str, why: str) -> None:
    """Remove a cache entry that cannot be used, saying so in one line on stderr."""
    print(f"wgan-repro: {what} cache {path} is not used: {why}; rebuilding it", file=sys.stderr)
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)


def save_verified(obj, path: str | os.PathLike) -> None:
    """atomic_save, then the content hash beside it."""
    _atomic_write(path, lambda fh: torch.save(obj, fh), sealed=True)


def load_verified(path: str | os.PathLike, what: str):
    """A verified torch cache entry (weights-only), or None when it is missing or was discarded."""
    path = Path(path)
    if not verified(path, what):
        return None
    try:
        return load_weights_only(path)
    except Exception as e:  # verified bytes that still do not load: written by something else
        discard(path, what, f"it cannot be loaded ({type(e).__name__})")
        return None


def write_verified_text(path: str | os.PathLike, text: str) -> None:
    _atomic_write(path, lambda fh: fh.write(text.encode()), sealed=True)


def read_verified_text(path: str | os.PathLike, what: str) -> str | None:
    """A verified text cache entry, or None when it is missing or was discarded."""
    path = Path(path)
    return path.read_text() if verified(path, what) else None


def cached_tensor(path: str | os.PathLike, build, what: str):
    """The verified entry at `path`, else build() saved there (with its hash) and returned. One builder per
    entry at a time (a lock beside it): a second process waits, then loads what the first wrote."""
    from filelock import FileLock

    obj = load_verified(path, what)
    if obj is None:
        with FileLock(str(path) + ".lock"):
            obj = load_verified(path, what)  # built by another process while we waited
            if obj is None:
                obj = build()
                save_verified(obj, path)
    return obj


__all__ = ["atomic_save", "compact_png", "atomic_write_text", "cache_dir", "cached_tensor", "discard", "file_sha256",
           "load_verified", "load_weights_only", "read_verified_text", "save_verified", "seal", "sealed", "verified",
           "write_sealed_bytes", "write_verified_text"]
