"""The WGAN-GP toy distributions, as `gan_toy.py` draws them: same centres, scales and noise."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch


@dataclass(frozen=True)
class ToyMixture:
    """Mode centres and per-coordinate standard deviation of a toy set, after its scaling."""

    centers: torch.Tensor  # (K, 2)
    sigma: float


def toy_mixture(name: str) -> ToyMixture:
    """Centres and noise of the WGAN-GP toy mixtures (the swiss roll has no discrete modes)."""
    if name == "8gaussians":
        s = 1.0 / math.sqrt(2)
        c = torch.tensor([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)],
                         dtype=torch.float32)
        # gan_toy.py: centres * 2, noise 0.02, then everything / 1.414
        return ToyMixture(c * 2.0 / 1.414, 0.02 / 1.414)
    if name == "25gaussians":
        c = torch.tensor([(2.0 * i, 2.0 * j) for i in range(-2, 3) for j in range(-2, 3)])
        # gan_toy.py: grid spacing 2, noise 0.05, then everything / 2.828
        return ToyMixture(c / 2.828, 0.05 / 2.828)
    raise ValueError(f"dataset={name!r} is not allowed: toy mixtures are 8gaussians, 25gaussians")


@lru_cache(maxsize=None)
def _centers_on(name: str, device: str) -> torch.Tensor:
    """A mixture's centres on `device`, copied there once per process (not once per batch)."""
    return toy_mixture(name).centers.to(device)


def sample_toy(name: str, n: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """n points (n, 2) from a toy distribution, drawn on `device` with its RNG (seeded by the caller)."""
    if name in ("8gaussians", "25gaussians"):
        mix, centers = toy_mixture(name), _centers_on(name, str(torch.device(device)))
        idx = torch.randint(len(centers), (n,), generator=generator, device=device)
        return centers[idx] + mix.sigma * torch.randn(n, 2, generator=generator, device=device)
    if name == "swissroll":
        # sklearn.datasets.make_swiss_roll(noise=0.25), coordinates (x, z), / 7.5 as in gan_toy.py
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, device=device))
        xyz = torch.stack([t * torch.cos(t), 21 * torch.rand(n, generator=generator, device=device),
                           t * torch.sin(t)], 1)
        xyz = xyz + 0.25 * torch.randn(n, 3, generator=generator, device=device)
        return xyz[:, [0, 2]] / 7.5
    raise ValueError(f"dataset={name!r} is not allowed: one of 8gaussians, 25gaussians, swissroll")


__all__ = ["ToyMixture", "sample_toy", "toy_mixture"]
