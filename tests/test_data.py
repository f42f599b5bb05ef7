import io
from pathlib import Path

import pytest
import torch

from tests.conftest import shared_data
from wgan_repro.config import TrainConfig
from wgan_repro.data import (
    DataNotFoundError,
    ImageFiles,
    LSUNBedrooms,
    load_image_tensor,
    resolve_data_root,
)
from wgan_repro.stream import BatchStream
from wgan_repro.toy import sample_toy, toy_mixture


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("WGAN_REPRO_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("WGAN_REPRO_DATA")
    assert resolve_data_root(None) == Path("data")


@pytest.mark.parametrize("name,k,scale,sigma", [("8gaussians", 8, 2 / 1.414, 0.02 / 1.414),
                                                ("25gaussians", 25, 4 / 2.828, 0.05 / 2.828)])
def test_toy_mixtures_match_the_wgan_gp_code(name, k, scale, sigma):
    mix = toy_mixture(name)
    assert len(mix.centers) == k
    assert mix.centers.abs().max().item() == pytest.approx(scale, rel=1e-6)
    torch.manual_seed(0)
    x = sample_toy(name, 20000)
    d, idx = torch.cdist(x, mix.centers).min(1)
    resid = x - mix.centers[idx]
    assert resid.std().item() == pytest.approx(sigma, rel=0.05)
    assert torch.bincount(idx, minlength=k).min() > 20000 / k * 0.8  # every mode drawn evenly


def test_swissroll_scale():
    torch.manual_seed(0)
    x = sample_toy("swissroll", 5000)
    assert x.shape == (5000, 2)
    assert 1.5 < x.abs().max().item() < 2.2  # t up to 4.5 pi ~ 14.1, / 7.5 ~ 1.9 (+ noise)


def test_missing_dataset_names_every_place_looked(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_image_tensor("cifar10", 32, data_root=tmp_path / "empty")
    msg = str(err.value)
    assert str(tmp_path / "empty" / "cifar-10-batches-py") in msg
    assert str(tmp_path / "empty" / "cifar10" / "train") in msg
    assert "download=true" in msg and "prepare-data --download" in msg and "export it before" in msg
    with pytest.raises(DataNotFoundError, match="MNIST/raw"):
        load_image_tensor("mnist", 32, data_root=tmp_path / "empty")


def _readonly_tree_snapshot(root: Path):
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


@pytest.mark.skipif(shared_data() is None, reason="offline dataset copies (../shared/data) not present")
def test_mnist_loads_from_the_shared_torchvision_layout_without_writing_there():
    root = shared_data()
    before = _readonly_tree_snapshot(root / "MNIST")
    x = load_image_tensor("mnist", 28, data_root=root)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.uint8
    assert x.float().mean().div(255).item() == pytest.approx(0.1307, abs=1e-3)  # the published mean
    assert _readonly_tree_snapshot(root / "MNIST") == before
    assert load_image_tensor("mnist", 32, data_root=root).shape == (60000, 1, 32, 32)


@pytest.mark.system
@pytest.mark.skipif(shared_data() is None, reason="offline dataset copies (../shared/data) not present")
def test_cifar10_loads_from_the_shared_imagefolder_layout_in_official_order():
    root = shared_data()
    x = load_image_tensor("cifar10", 32, data_root=root)
    assert x.shape == (50000, 3, 32, 32)
    mean = x.float().mean((0, 2, 3)).div(255)
    assert torch.allclose(mean, torch.tensor([0.4914, 0.4822, 0.4465]), atol=2e-4)
    import numpy as np
    from PIL import Image
    first = next((root / "cifar10" / "train").glob("*/00000.png"))
    assert torch.equal(x[0], torch.from_numpy(np.array(Image.open(first))).permute(2, 0, 1))


def _make_tiny_lmdb(path: Path, n: int = 6):
    import lmdb
    from PIL import Image

    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(n):
            im = Image.new("RGB", (80 + 8 * i, 64), (40 * i, 255 - 40 * i, 128))
            buf = io.BytesIO()
            im.save(buf, format="WEBP" if i % 2 else "JPEG")
            txn.put(f"{i:08d}".encode(), buf.getvalue())
    env.close()


def test_lsun_bedrooms_through_torchvision_on_a_tiny_lmdb(tmp_path, monkeypatch):
    _make_tiny_lmdb(tmp_path / "bedroom_train_lmdb")
    monkeypatch.chdir(tmp_path)  # torchvision drops a key cache in the cwd: we must not
    ds = LSUNBedrooms(tmp_path, image_size=64)
    assert len(ds) == 6
    img = ds[2]
    assert img.shape == (3, 64, 64) and img.dtype == torch.uint8
    assert img[0].float().mean().item() == pytest.approx(80, abs=3)  # the colour survived decoding
    assert not list(tmp_path.glob("_cache_*"))
    cfg = TrainConfig(dataset="lsun-bedroom", arch="dcgan", image_size=64, data_root=str(tmp_path), batch_size=4,
                      clip_value=0.01)
    batch = BatchStream(cfg, torch.device("cpu")).next()
    assert batch.shape == (4, 3, 64, 64) and -1 <= batch.min() and batch.max() <= 1


def test_lsun_missing_says_where_and_how(tmp_path):
    with pytest.raises(DataNotFoundError, match="bedroom_train_lmdb"):
        LSUNBedrooms(tmp_path, 64)


def test_image_folder_any_layout(tmp_path):
    from PIL import Image

    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (50, 40), (255, 0, 0)).save(tmp_path / "a" / "x.png")
    Image.new("RGB", (30, 30), (0, 0, 255)).save(tmp_path / "a" / "b" / "y.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = ImageFiles(tmp_path, 32)
    assert len(ds) == 2 and ds[0].shape == (3, 32, 32)
    cfg = TrainConfig(dataset="folder", arch="dcgan", data_dir=str(tmp_path), batch_size=2, clip_value=0.01)
    batch = BatchStream(cfg, torch.device("cpu")).next()
    assert batch.shape == (2, 3, 32, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="holds no images"):
        ImageFiles(tmp_path / "empty", 32)


def test_batch_stream_is_seeded_and_resumable(tmp_path):
    from PIL import Image

    for i in range(10):
        Image.new("L", (8, 8), 20 * i).save(tmp_path / f"{i}.png")
    cfg = TrainConfig(dataset="folder", arch="mlp", image_size=28, data_dir=str(tmp_path), batch_size=3,
                      clip_value=0.01)
    s1 = BatchStream(cfg, torch.device("cpu"))
    batches = [s1.next() for _ in range(7)]  # crosses two epochs (3 full batches per epoch)
    s2 = BatchStream(cfg, torch.device("cpu"))
    for _ in range(4):
        s2.next()
    s3 = BatchStream(cfg, torch.device("cpu"))
    s3.load_state_dict(s2.state_dict())
    for b in batches[4:]:
        assert torch.equal(s3.next(), b)


def test_atomic_text_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    from wgan_repro import files

    target = tmp_path / "scores.json"
    files.atomic_write_text(target, "old")
    monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        files.atomic_write_text(target, "new")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["scores.json"]


@pytest.mark.parametrize("damage", ["truncated", "bomb", "not an image"])
def test_a_bad_file_in_an_image_folder_is_named_before_training(tmp_path, damage, monkeypatch):
    """A truncated PNG, a decompression bomb (beyond PIL's MAX_IMAGE_PIXELS) or a non-image with an image's
    name is one line naming the file when the folder is opened, not an exception mid-run."""
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (40, 40), (i * 80, 0, 0)).save(tmp_path / f"{i}.png")
    bad = tmp_path / "1.png"
    if damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:-30])
    elif damage == "bomb":
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40 * 40 - 1)  # the same check as a 200-megapixel file
    else:
        bad.write_bytes(b"\0" * 64)
    with pytest.raises(DataNotFoundError) as e:
        ImageFiles(tmp_path, 32)
    msg = str(e.value)
    assert ("0.png" if damage == "bomb" else "1.png") in msg and "cannot be read" in msg and "\n" not in msg
