import torch

from wgan_repro.data import sample_toy, toy_mixture
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
