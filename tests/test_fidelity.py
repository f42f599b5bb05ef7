"""FID/KID/IS: the offline weights mapping, input conversion, caching, seeding, IS honesty."""
import pytest
import torch

from wgan_repro import fidelity, inception
from wgan_repro.models import DCGANGenerator


@pytest.fixture(scope="module")
def weights():
    return inception.offline_weights()


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("WGAN_REPRO_OFFLINE", "1")  # never try a download in tests


def test_mapped_weights_give_the_torchscript_features(weights):
    path, _ = weights
    ours = inception.make_extractor(path)
    reference = inception._load_torchscript(inception.torchscript_source())
    torch.manual_seed(0)
    x = torch.randint(0, 256, (3, 3, 299, 299), dtype=torch.uint8)
    with torch.no_grad():
        (a,) = ours(x)  # torch-fidelity's extractor: uint8 in, its own normalisation
        b = reference((x.float() - 128) / 128)  # the TorchScript net takes normalised input
    assert a.shape == b.shape == (3, 2048)
    diff = (a - b).abs().max().item()
    assert diff < 1e-4, diff  # observed: ~1e-6
    assert a.abs().mean().item() > 0.05  # not a trivially zero feature vector


def test_mapped_weights_are_cached_by_source_hash(weights):
    path, digest = weights
    assert digest[:16] in path.name and len(digest) == 64
    mtime = path.stat().st_mtime_ns
    again, _ = inception.offline_weights()
    assert again == path and path.stat().st_mtime_ns == mtime


def test_mapped_weights_cannot_produce_logits(weights):
    ext = inception.make_extractor(weights[0], (inception.LOGITS,))
    with torch.no_grad():
        (logits,) = ext(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    assert torch.isnan(logits).all()


def test_inputs_converted_as_torch_fidelity_expects():
    gray = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    rgb = inception.as_uint8_rgb(gray)
    assert rgb.dtype == torch.uint8 and rgb.shape == (1, 3, 1, 3)
    assert rgb[0, :, 0].tolist() == [[0, 128, 255]] * 3
    with pytest.raises(ValueError, match="channels"):
        inception.as_uint8_rgb(torch.zeros(1, 2, 4, 4))


def _folder(tmp_path, n=12, seed=0):
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        arr = torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8).numpy()
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
    return tmp_path


def test_score_tensor_and_folder_with_cached_reference(tmp_path, monkeypatch):
    (tmp_path / "ref").mkdir()
    ref = _folder(tmp_path / "ref")
    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    out = fidelity.score(images, reference=str(ref), n_reference=None, kid_subset_size=10)
    assert out["fid"] > 0 and out["kid_subset_size"] == 10
    assert out["isc_mean"] is None and "logits" in out["isc_unavailable"]
    assert out["n_samples"] == 10 and out["n_reference"] == 12

    def no_reference_work(*a, **k):
        raise AssertionError("reference features should come from the cache")

    monkeypatch.setattr(fidelity, "reference_images", no_reference_work)
    again = fidelity.score(images, reference=str(ref), n_reference=None, kid_subset_size=10)
    assert again["fid"] == pytest.approx(out["fid"], rel=1e-9)
    same = fidelity.score(ref, reference=str(ref), n_reference=None, kid_subset_size=10, isc=False)
    assert abs(same["fid"]) < 1e-3  # a set against itself


def test_score_generator_is_seeded(tmp_path):
    ref = _folder(tmp_path)
    torch.manual_seed(0)
    g = DCGANGenerator(z_dim=8, channels=1, image_size=32, dim=8)  # grayscale: replicated to RGB
    a = fidelity.score(g, reference=str(ref), n_reference=None, n_samples=10, kid_subset_size=10, seed=1, isc=False)
    b = fidelity.score(g, reference=str(ref), n_reference=None, n_samples=10, kid_subset_size=10, seed=1, isc=False)
    c = fidelity.score(g, reference=str(ref), n_reference=None, n_samples=10, kid_subset_size=10, seed=2, isc=False)
    assert a["fid"] == b["fid"] and a["kid_mean"] == b["kid_mean"]
    assert a["fid"] != c["fid"]


def test_is_reported_unavailable_with_reason_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    path, reason = inception.standard_weights()
    assert path is None and "logits" in reason and "hub cache (checkpoints/weights-inception" in reason
    assert str(tmp_path) not in reason  # the reason lands in committed pages: no machine path


def test_a_failed_download_is_tried_once_per_process(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("WGAN_REPRO_OFFLINE", raising=False)
    tries = []

    def offline(*args, **kwargs):
        tries.append(1)
        raise ConnectionError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    reasons = [inception.standard_weights()[1] for _ in range(3)]
    assert len(tries) == 1 and len(set(reasons)) == 1 and "ConnectionError" in reasons[0]


def test_bad_reference_is_one_line():
    with pytest.raises(ValueError, match=r"^reference='imagenet' is not allowed: one of mnist-train"):
        fidelity.reference_images("imagenet", 32, 10)


@pytest.mark.parametrize("n1, n2", [(40, 200), (200, 40), (100, 150)])
def test_fid_equals_torch_fidelity_without_the_full_sqrtm(n1, n2):
    """Our FID against torch-fidelity's fid_statistics_to_metric (scipy sqrtm), on correlated
    ReLU features of width 96 (a side with 40 < 96 samples: our n x n route; 100 and 150: theirs):
    equal to 1e-4 relative (sqrtm of a rank-deficient covariance is itself inexact), and to 1e-5
    against Tr sqrt(S1^1/2 S2 S1^1/2) computed here directly."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    g = torch.Generator().manual_seed(0)
    mix = torch.rand(24, 96, generator=g)
    f1 = (torch.randn(n1, 24, generator=g) @ mix * 1.3 + 0.5).relu() * 0.1
    f2 = (torch.randn(n2, 24, generator=g) @ mix).relu() * 0.1
    ours = fidelity._fid(f1, f2)
    s1, s2 = fid_features_to_statistics(f1.double()), fid_features_to_statistics(f2.double())
    theirs = fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"]
    assert abs(ours - theirs) <= 1e-4 * abs(theirs)
    c1, c2 = torch.cov(f1.double().T), torch.cov(f2.double().T)
    lam, vec = torch.linalg.eigh(c1)
    half = (vec * lam.clamp(min=0).sqrt()) @ vec.T
    tr = torch.linalg.eigvalsh(half @ c2 @ half).clamp(min=0).sqrt().sum()
    exact = float(((f1.double().mean(0) - f2.double().mean(0)) ** 2).sum() + c1.trace() + c2.trace() - 2 * tr)
    assert abs(ours - exact) <= 1e-5 * abs(exact)


def test_a_cached_reason_loses_the_machines_hub_path(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    old = f"IS needs the Inception logits layer; torch-fidelity's weights are not in {tmp_path}/hub/checkpoints/" \
          f"{inception.STANDARD_WEIGHTS_FILE} (download not attempted)"
    shown = inception.shown_reason(old)
    assert str(tmp_path) not in shown and "torch's hub cache (checkpoints/weights-inception" in shown
    assert inception.shown_reason(None) is None
