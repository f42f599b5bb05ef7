"""Data: the WGAN-GP toy mixtures and image datasets, scaled to [-1, 1].

Image datasets come through torchvision; the toy samplers are in `toy`. Where data is looked for:
    argument `data_root` > $WGAN_REPRO_DATA > ./data
Sources may be read-only: anything that must be extracted or converted is written to the
project's cache ($WGAN_REPRO_CACHE, else ~/.cache/wgan-repro), never into the source.
"""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from .config import ConfigError, WganReproError
from .files import cache_dir, cached_tensor, sealed, write_sealed_bytes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class DataNotFoundError(WganReproError, FileNotFoundError):
    """A dataset could not be found or fetched; the message says where we looked and what to do."""


# ---------------------------------------------------------------------- roots
def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """argument > $WGAN_REPRO_DATA > ./data"""
    if data_root:
        return Path(data_root).expanduser()
    if os.environ.get("WGAN_REPRO_DATA"):
        return Path(os.environ["WGAN_REPRO_DATA"]).expanduser()
    return Path("data")


# ---------------------------------------------------------------------- image datasets
def _not_found(name: str, looked: list[Path], how: str) -> DataNotFoundError:
    places = "; ".join(str(p) for p in looked)
    return DataNotFoundError(
        f"{name} not found. Looked in: {places}. {how} Or set WGAN_REPRO_DATA (for `dvc repro` / `dvc exp run`: "
        f"export it before the command) or data_root to a folder holding it, or on a machine with internet let "
        f"torchvision download it: download=true for `train`, `wgan-repro prepare-data --download` for the pipeline."
    )


_MNIST_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def _source_files(name: str, root: Path) -> list[Path]:
    """The files a dataset's images are read from under `root` (empty when they are not there)."""
    if name in _MNIST_CLASSES:
        return sorted((root / _MNIST_CLASSES[name] / "raw").glob("*-ubyte*"))
    batches = root / "cifar-10-batches-py"
    if batches.is_dir():
        return sorted(batches.iterdir())
    return sorted((root / "cifar10" / "train").glob("*/*.png"))


def source_key(name: str, data_root=None) -> str:
    """12 hex digits naming the data a dataset is read from: a manifest (relative path, size, mtime) of its
    source files, so derived entries (extracted archives, image tensors, reference features) are keyed by what
    they were made from, not by the folder's path. 'none' when the files are not there."""
    root = resolve_data_root(data_root)
    h = hashlib.sha256(name.encode())
    files = _source_files(name, root)
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12] if files else "none"


def _load_mnist_like(name: str, root: Path, download: bool) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) training images of MNIST or Fashion-MNIST.

    The source folder may be read-only: its files are checked (a .gz against torchvision's MD5)
    and extracted into our cache, each extracted file sealed with its hash, so a torn extraction
    is redone rather than read. torchvision is asked to download only when `download` is true.
    """
    import gzip

    from torchvision import datasets
    from torchvision.datasets.utils import check_integrity

    folder = _MNIST_CLASSES[name]
    cls = getattr(datasets, folder)
    work = _extracted(name, root)  # one extraction per source: another data root never reads this one's digits
    raw = work / folder / "raw"
    source = root / folder / "raw"
    if not (source.is_dir() and any(source.glob("train-images*"))):
        if not download:
            raise _not_found(name, [source], f"Expected torchvision's layout {folder}/raw/*-ubyte.gz.")
        return cls(str(work), train=True, download=True).data.unsqueeze(1).contiguous()
    for gz_name, md5 in cls.resources:
        extracted = raw / gz_name[:-len(".gz")]
        if sealed(extracted):
            continue
        gz, plain = source / gz_name, source / gz_name[:-len(".gz")]
        if gz.is_file():
            if not check_integrity(str(gz), md5):
                raise DataNotFoundError(f"{gz} is damaged: its MD5 is not torchvision's {md5}; replace it with the "
                                        f"official file (or delete it and set download=true)")
            with gzip.open(gz, "rb") as fh:
                content = fh.read()
        elif plain.is_file():  # already extracted (no MD5 to check against)
            content = plain.read_bytes()
        else:
            raise _not_found(name, [gz, plain], f"Expected torchvision's layout {folder}/raw/*-ubyte.gz.")
        write_sealed_bytes(extracted, content)
    return cls(str(work), train=True, download=False).data.unsqueeze(1).contiguous()


def _extracted(name: str, root: Path) -> Path:
    return cache_dir() / "torchvision" / source_key(name, root)


def _load_cifar10(root: Path, download: bool) -> torch.Tensor:
    """uint8 (50000, 3, 32, 32) CIFAR-10 training images in the official order."""
    from torchvision import datasets

    torchvision_dir = root / "cifar-10-batches-py"
    folder = root / "cifar10" / "train"
    if torchvision_dir.is_dir():
        ds = datasets.CIFAR10(str(root), train=True, download=False)
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    if folder.is_dir():
        return _load_cifar10_folder(folder)
    if download:
        work = cache_dir() / "torchvision"
        ds = datasets.CIFAR10(str(work), train=True, download=True)
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    raise _not_found("cifar10", [torchvision_dir, folder],
                     "Expected torchvision's cifar-10-batches-py/ or cifar10/train/<class>/<index>.png.")


def _load_cifar10_folder(folder: Path) -> torch.Tensor:
    """The shared ImageFolder layout: <class>/<NNNNN>.png, NNNNN the official index."""
    files = sorted(folder.glob("*/*.png"), key=lambda p: p.stem)
    if not files:
        raise DataNotFoundError(f"cifar10 folder {folder} holds no <class>/*.png images")
    # the file names are the official indices: they must be 0 .. N-1, each once (the official
    # order is what a seed's batches depend on)
    expected = [f"{i:05d}" for i in range(len(files))]
    wrong = next((i for i, (f, e) in enumerate(zip(files, expected)) if f.stem != e), None)
    if wrong is not None:
        raise DataNotFoundError(f"cifar10 folder {folder} is not the official set: expected {expected[wrong]}.png "
                                f"at position {wrong}, found {files[wrong].relative_to(folder)} (a missing, extra or "
                                f"renamed image); the {len(files)} files must be named 00000 .. {len(files) - 1:05d}")
    out = torch.empty(len(files), 3, 32, 32, dtype=torch.uint8)
    for i, f in enumerate(files):
        try:
            with _checked_image(f) as im:
                out[i] = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
        except Exception as e:  # PIL's UnidentifiedImageError, a truncated file, a wrong size, a bomb
            raise DataNotFoundError(f"cifar10 image {f} cannot be read as a 32x32 RGB PNG "
                                    f"({type(e).__name__}); replace it with the official image") from None
    return out


def _resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    from torchvision.transforms.v2 import functional as TF

    out = []
    for chunk in images.split(4096):
        out.append(TF.resize(chunk, [size, size], antialias=True))
    return torch.cat(out)


def load_image_tensor(name: str, image_size: int, data_root=None, download: bool = False) -> torch.Tensor:
    """All training images of mnist / fashion-mnist / cifar10 as uint8 (N, C, S, S), cached.

    The cache file is keyed by dataset, size and the source files' manifest (`source_key`), so a second call
    is a load and changed source files are read again.
    """
    if name not in ("mnist", "fashion-mnist", "cifar10"):
        raise ValueError(f"dataset={name!r} is not allowed here: mnist, fashion-mnist or cifar10 "
                         f"(lsun-bedroom and folder are read lazily, see image_dataset)")
    root = resolve_data_root(data_root)
    path = cache_dir() / "tensors" / f"{name}-train-{image_size}px-{source_key(name, root)}.pt"
    if str(path) in _LOADED:  # many runs in one process (a notebook's grid) share one copy
        return _LOADED[str(path)]

    def build() -> torch.Tensor:
        images = _load_cifar10(root, download) if name == "cifar10" else _load_mnist_like(name, root, download)
        return _resize_uint8(images, image_size)

    images = cached_tensor(path, build, f"{name} images")
    _LOADED[str(path)] = images
    return images


_LOADED: dict[str, torch.Tensor] = {}


def labelled_digits(name: str, train: bool = True, data_root=None, download: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST / Fashion-MNIST with labels: uint8 images (N, 1, 28, 28) and int64 labels (N,) of the
    training split (train) or the test split, from the checked, extracted files in the cache."""
    if name not in _MNIST_CLASSES:
        raise ValueError(f"dataset={name!r} is not allowed here: {' or '.join(_MNIST_CLASSES)}")
    root = resolve_data_root(data_root)
    _load_mnist_like(name, root, download)  # checks and extracts both splits
    from torchvision import datasets

    split = getattr(datasets, _MNIST_CLASSES[name])(str(_extracted(name, root)), train=train, download=False)
    return split.data.unsqueeze(1).contiguous(), split.targets.clone()


class ImageFiles(torch.utils.data.Dataset):
    """Every image below a folder (recursively, sorted), as uint8 (C, S, S) centre-cropped squares."""

    def __init__(self, folder: str | os.PathLike, image_size: int, channels: int = 3):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataNotFoundError(f"data_dir={str(folder)!r}: no such folder")
        self.files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise DataNotFoundError(f"data_dir={str(folder)!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.image_size, self.channels = image_size, channels
        for f in self.files:  # before any training: a truncated or hostile file is named now, not mid-run
            _checked_image(f, verify=True)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        with _checked_image(self.files[i]) as im:
            try:
                return pil_to_square_uint8(im, self.image_size, self.channels)
            except Exception as e:  # a file changed or damaged after it was checked
                raise _unreadable(self.files[i], e) from None


def _unreadable(f: Path, e: Exception) -> DataNotFoundError:
    why = str(e).splitlines()[0][:160] if str(e) else ""
    return DataNotFoundError(f"image {f} cannot be read ({type(e).__name__}{': ' + why if why else ''}); "
                             f"replace or remove it")


def _checked_image(f: Path, verify: bool = False):
    """The image at `f`, opened by PIL with decompression-bomb protection on (an image of more than
    PIL's MAX_IMAGE_PIXELS is refused, not decoded); `verify` checks the whole file's structure (a
    truncated PNG fails here) without decoding its pixels."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(f)
            if verify:
                with im:
                    im.verify()
                return None
            return im
    except Exception as e:  # UnidentifiedImageError, a truncated file, DecompressionBomb{Error,Warning}
        raise _unreadable(f, e) from None


def pil_to_square_uint8(im, size: int, channels: int = 3) -> torch.Tensor:
    """Centre crop to a square, resize (antialiased) and return uint8 (C, size, size)."""
    from torchvision.transforms.v2 import functional as TF

    im = im.convert("L" if channels == 1 else "RGB")
    side = min(im.size)
    im = TF.center_crop(im, [side, side]).resize((size, size), resample=3)  # 3 = BICUBIC
    arr = torch.from_numpy(np.asarray(im).copy())
    return arr.unsqueeze(0) if channels == 1 else arr.permute(2, 0, 1).contiguous()


@contextmanager
def _chdir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


_OPEN_LSUN: dict = {}


class LSUNBedrooms(torch.utils.data.Dataset):
    """LSUN bedrooms through torchvision's LSUN (lmdb at <root>/bedroom_train_lmdb)."""

    def __init__(self, root: Path, image_size: int):
        from torchvision import datasets

        lmdb_dir = root / "bedroom_train_lmdb"
        if not lmdb_dir.is_dir():
            raise _not_found("lsun-bedroom", [lmdb_dir],
                             "LSUN is not downloadable through torchvision: fetch bedroom_train_lmdb "
                             "with the LSUN download script and place it there.")
        # torchvision caches the lmdb key list as a file in the working directory: keep it in ours
        keys_dir = cache_dir() / "lsun-keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        key = str(root.resolve())
        if key not in _OPEN_LSUN:  # lmdb allows one open environment per path and process
            with _chdir(keys_dir):
                _OPEN_LSUN[key] = datasets.LSUN(key, classes=["bedroom_train"])
        self.lsun = _OPEN_LSUN[key]
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.lsun)

    def __getitem__(self, i: int) -> torch.Tensor:
        im, _ = self.lsun[i]
        return pil_to_square_uint8(im, self.image_size, 3)


def image_dataset(cfg) -> torch.Tensor | torch.utils.data.Dataset:
    """The training images of `cfg`: a uint8 tensor (in memory) or a lazily-read Dataset."""
    if cfg.dataset in ("mnist", "fashion-mnist", "cifar10"):
        return load_image_tensor(cfg.dataset, cfg.image_size, cfg.data_root, cfg.download)
    if cfg.dataset == "lsun-bedroom":
        return LSUNBedrooms(resolve_data_root(cfg.data_root), cfg.image_size)
    if cfg.dataset == "folder":
        return ImageFiles(cfg.data_dir, cfg.image_size, cfg.channels)
    raise ValueError(f"dataset={cfg.dataset!r} is not an image dataset")


def to_unit_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (the generators end in tanh)."""
    return images_uint8.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], rounding as torchvision's save_image does."""
    return images.detach().add(1).mul(127.5).add(0.5).clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------- the training split (stream.py reads it)
SPLIT_SEED = 5_150  # the permutation behind train_size / heldout_size: one split for every run


def _split(images, train_size: int | None, heldout_size: int):
    """(training images, held-out images) from one fixed permutation: training first, held-out next."""
    if not isinstance(images, torch.Tensor):
        raise ConfigError("train_size and heldout_size are not allowed here: they need an in-memory dataset "
                          "(mnist, fashion-mnist, cifar10)")
    n = len(images)
    train = n - heldout_size if train_size is None else train_size
    if train + heldout_size > n:
        raise ConfigError(f"train_size={train_size} is not allowed: with heldout_size={heldout_size} it needs "
                          f"{train + heldout_size} images, the dataset holds {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return images[perm[:train]], images[perm[train:train + heldout_size]]
