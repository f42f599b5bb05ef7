import os
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


# Each test session gets its own writable cache unless CI / the user set one.
if "WGAN_REPRO_CACHE" not in os.environ:
    os.environ["WGAN_REPRO_CACHE"] = tempfile.mkdtemp(prefix="wgan-repro-test-cache-")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))


def _real_data() -> Path | None:
    for p in [os.environ.get("WGAN_REPRO_DATA"), REPO.parent / "shared" / "data"]:
        if p and Path(p).is_dir():
            return Path(p)
    return None


REAL_DATA = _real_data()


def shared_data() -> Path | None:
    """The real offline dataset copies (../shared/data or $WGAN_REPRO_DATA), if present."""
    return REAL_DATA


def _write_idx(path: Path, array) -> None:
    """An uncompressed MNIST idx file (torchvision reads these without checking MD5s)."""
    import numpy as np

    magic = 0x800 + array.ndim
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_tiny_datasets(root: Path, n_mnist: int = 200, n_cifar_per_class: int = 10) -> Path:
    """Tiny MNIST, Fashion-MNIST (torchvision's raw layout) and CIFAR-10 (the shared ImageFolder
    layout) so that every test runs on a machine with no data at all."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder in ("MNIST", "FashionMNIST"):
        raw = root / folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for split, n in (("train", n_mnist), ("t10k", 20)):
            images = np.zeros((n, 28, 28), np.uint8)
            for i in range(n):  # a bright bar at a random place: structure, not noise
                r, c = rng.integers(4, 20, 2)
                images[i, r:r + 8, c:c + 3] = 255
            _write_idx(raw / f"{split}-images-idx3-ubyte", images)
            _write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for k, name in enumerate(classes):
        d = root / "cifar10" / "train" / name
        d.mkdir(parents=True, exist_ok=True)
        for j in range(n_cifar_per_class):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(d / f"{k * n_cifar_per_class + j:05d}.png")
    return root


# Notebook kernels and worker processes read the data root from the environment: point it at the
# real copies when they exist, else at tiny generated ones (tests must pass with no data at all).
if REAL_DATA is not None:
    os.environ["WGAN_REPRO_DATA"] = str(REAL_DATA)
else:
    os.environ["WGAN_REPRO_DATA"] = str(make_tiny_datasets(Path(tempfile.mkdtemp(prefix="wgan-repro-tiny-data-"))))


def tiny_toy_config(tmp_path, **kw):
    from wgan_repro.config import TrainConfig

    values = dict(dataset="8gaussians", arch="toy", dim=32, loss="wgan", gp_weight=10.0, d_norm="none",
                  optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=32, n_critic=2, iterations=12,
                  sample_every=0, checkpoint_every=4, progress=False, dvclive=True, log_every=1,
                  out_dir=str(tmp_path / "run"))
    values.update(kw)
    return TrainConfig(**values)
