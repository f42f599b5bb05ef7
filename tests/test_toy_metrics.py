import pytest
import torch

from wgan_repro.toy import sample_toy, toy_mixture
from wgan_repro.metrics import mode_coverage


def test_real_samples_cover_every_mode_with_high_quality():
    torch.manual_seed(0)
    for name, k in (("8gaussians", 8), ("25gaussians", 25)):
        cov = mode_coverage(sample_toy(name, 2500), name)
        assert cov.modes_covered == k
        assert cov.high_quality_rate > 0.97  # 3 sigma in 2-D holds ~98.9% of a Gaussian


def test_collapsed_and_blurry_samples():
    mix = toy_mixture("8gaussians")
    collapsed = mix.centers[3] + mix.sigma * torch.randn(2500, 2)
    cov = mode_coverage(collapsed, "8gaussians")
    assert cov.modes_covered == 1 and cov.counts[3] > 2400
    blurry = torch.randn(2500, 2)  # nowhere near the tight modes
    cov = mode_coverage(blurry, "8gaussians")
    assert cov.high_quality_rate < 0.05


def test_threshold_for_covered():
    mix = toy_mixture("8gaussians")
    pts = torch.cat([mix.centers[0].repeat(19, 1), mix.centers[1].repeat(20, 1)])
    assert mode_coverage(pts, "8gaussians", min_per_mode=20).modes_covered == 1


def test_a_smeared_but_present_mode_is_reached_though_not_covered_in_3_sigma():
    """The GAN's 8-Gaussian samples lie on every mode, spread radially: not 'covered' (a precision
    measure), but 'reached' (coverage in the sense of mode collapse)."""
    torch.manual_seed(0)
    mix = toy_mixture("8gaussians")
    k = torch.randint(8, (1000,))
    radial = mix.centers[k] * (0.7 + 0.6 * torch.rand(1000, 1))  # spread along each mode's radius
    cov = mode_coverage(radial, "8gaussians")
    assert cov.modes_reached == 8 and cov.modes_covered < 8
    collapsed = mix.centers[3] + 0.1 * torch.randn(2500, 2)
    assert mode_coverage(collapsed, "8gaussians").modes_reached == 1


def test_empirical_wasserstein_is_the_optimal_matching_distance():
    from wgan_repro.metrics import empirical_wasserstein

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 2, generator=g)
    shift = torch.tensor([3.0, 4.0])
    # a translated copy, shuffled: the matching undoes the shuffle, every point moves |shift| = 5 (float32 inputs)
    assert empirical_wasserstein(x, (x + shift)[torch.randperm(300, generator=g)]) == pytest.approx(5.0, rel=1e-6)
    assert empirical_wasserstein(x, x[torch.randperm(300, generator=g)]) == pytest.approx(0.0, abs=1e-12)
    # 1-D: equals scipy's closed form on sorted samples
    from scipy.stats import wasserstein_distance

    a, b = torch.randn(200, 1, generator=g), 2 * torch.randn(200, 1, generator=g) + 1
    assert empirical_wasserstein(a, b) == pytest.approx(wasserstein_distance(a[:, 0], b[:, 0]), rel=1e-9)
    with pytest.raises(ValueError, match="equal-size"):
        empirical_wasserstein(x, x[:10])
