"""Sample-quality metrics.

Toy mixtures (this module): modes covered and high-quality rate, PacGAN's definitions
(Lin et al. 2018, §5): a sample is *high quality* when it lies within `k_sigma` standard
deviations (default 3) of its nearest mode centre; a mode is *covered* when at least
`min_per_mode` high-quality samples fall on it. Our default threshold is 20 of 2,500
samples: a fifth of a mode's fair share on the 25-mode grid (100), so collapse shows and
sampling noise does not.

"Covered" within 3 sigma is a precision measure: a generator whose samples lie on every mode but
spread along it covers none. Coverage in the sense of mode collapse is `modes_reached`: a mode is
*reached* when at least `min_per_mode` samples have it as their nearest centre within half the
smallest distance between two centres (each sample counts for at most one mode), whatever their
spread inside that radius.

Images (FID, KID, IS): `wgan_repro.fidelity`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .toy import toy_mixture


@dataclass
class ModeCoverage:
    modes_covered: int
    modes_total: int
    high_quality_rate: float
    counts: list[int]
    modes_reached: int = 0

    def as_dict(self) -> dict:
        return {"modes_covered": self.modes_covered, "modes_total": self.modes_total,
                "high_quality_rate": self.high_quality_rate, "modes_reached": self.modes_reached}


def mode_coverage(samples: torch.Tensor, dataset: str, k_sigma: float = 3.0,
                  min_per_mode: int = 20) -> ModeCoverage:
    """Coverage of a toy mixture ('8gaussians' or '25gaussians') by `samples` (N, 2)."""
    mix = toy_mixture(dataset)
    samples = samples.detach().float().cpu()
    dist = torch.cdist(samples, mix.centers)
    nearest_dist, nearest = dist.min(1)
    # within k sigma in Euclidean distance (the noise is isotropic with this per-axis sigma)
    high_quality = nearest_dist <= k_sigma * mix.sigma
    counts = torch.bincount(nearest[high_quality], minlength=len(mix.centers))
    spacing = torch.cdist(mix.centers, mix.centers).masked_fill(torch.eye(len(mix.centers), dtype=torch.bool),
                                                                float("inf")).min()
    reached = torch.bincount(nearest[nearest_dist <= spacing / 2], minlength=len(mix.centers))
    return ModeCoverage(
        modes_covered=int((counts >= min_per_mode).sum()),
        modes_total=len(mix.centers),
        high_quality_rate=float(high_quality.float().mean()),
        counts=counts.tolist(),
        modes_reached=int((reached >= min_per_mode).sum()),
    )


def empirical_wasserstein(a: torch.Tensor, b: torch.Tensor) -> float:
    """W1 between two equal-size point sets (N, d), exactly: the optimal matching of the empirical
    distributions (`scipy.optimize.linear_sum_assignment`; N of about 1,000 takes well under a second).
    The quantity WGAN approximates, measured on samples: it grows with missed modes and with smearing."""
    from scipy.optimize import linear_sum_assignment

    if a.shape != b.shape:
        raise ValueError(f"samples={tuple(a.shape)} vs {tuple(b.shape)} is not allowed: equal-size point sets only")
    cost = torch.cdist(a.detach().double().cpu(), b.detach().double().cpu()).numpy()
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def iter_samples(generator: torch.nn.Module, n: int, seed: int = 0, batch_size: int = 500,
                 batch_stats: bool = True):
    """n samples from `generator` in CPU batches of `batch_size`, with noise from its own seeded RNG
    (the training RNG is untouched). batch_stats: batch norm uses each batch's statistics, as both
    official codes sample; the running statistics are left exactly as they were (models.sampling)."""
    from .models import sampling

    device = next(generator.parameters()).device
    g = torch.Generator().manual_seed(seed)
    with sampling(generator, batch_stats):
        for start in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - start), generator.z_dim, generator=g)
            yield generator(z.to(device)).cpu()


def sample_generator(generator: torch.nn.Module, n: int, seed: int = 0, batch_size: int = 500,
                     batch_stats: bool = True) -> torch.Tensor:
    """n samples from `generator`, on CPU, all at once (`iter_samples`)."""
    return torch.cat(list(iter_samples(generator, n, seed, batch_size, batch_stats)))
