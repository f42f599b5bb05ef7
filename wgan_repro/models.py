"""Generators and critics of both papers.

- DCGAN (Radford et al. 2016) at 32 or 64 px, batch norm switchable separately in G and D:
  the WGAN paper's "no BN" generator (Fig. 6) is `g_batchnorm=False`.
- MLP with 4 hidden layers x 512 ReLU (WGAN §4, Fig. 7).
- Toy MLPs of the WGAN-GP toy code: 3 hidden layers x 512 ReLU.
A gradient-penalty critic gets layer norm (or none) instead of batch norm (WGAN-GP §4):
the penalty is defined per example, and batch norm mixes examples.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _critic_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # normalise over (C, H, W) of each example
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> image (B, C, S, S) in [-1, 1]; S in {32, 64}; width `dim` at the last layer."""

    def __init__(self, z_dim: int = 100, channels: int = 3, image_size: int = 64, dim: int = 64,
                 batchnorm: bool = True):
        super().__init__()
        n_up = int(math.log2(image_size)) - 3  # 4x4 -> S/2 in n_up doublings, then the output layer
        ch = dim * 2 ** n_up
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        layers = [nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=not batchnorm), norm(ch), nn.ReLU(True)]
        for _ in range(n_up):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=not batchnorm), norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANCritic(nn.Module):
    """image (B, C, S, S) -> one unbounded score per example (a logit for the standard GAN)."""

    def __init__(self, channels: int = 3, image_size: int = 64, dim: int = 64, norm: str = "batch"):
        super().__init__()
        n_down = int(math.log2(image_size)) - 3
        layers = [nn.Conv2d(channels, dim, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # no norm on the input layer
        ch = dim
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"), _critic_norm(norm, ch * 2),
                       nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def _mlp(sizes: list[int], final: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU(True)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """WGAN §4: 4 hidden layers of `dim` ReLU units, tanh output reshaped to an image."""

    def __init__(self, z_dim: int = 100, channels: int = 3, image_size: int = 64, dim: int = 512,
                 hidden_layers: int = 4):
        super().__init__()
        self.shape = (channels, image_size, image_size)
        self.net = _mlp([z_dim] + [dim] * hidden_layers + [math.prod(self.shape)], nn.Tanh())
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1)).view(-1, *self.shape)


class MLPCritic(nn.Module):
    """WGAN §4's MLP critic: flattened image -> 4 x `dim` ReLU -> score."""

    def __init__(self, channels: int = 3, image_size: int = 64, dim: int = 512, hidden_layers: int = 4):
        super().__init__()
        self.net = _mlp([channels * image_size * image_size] + [dim] * hidden_layers + [1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(-1)


class ToyGenerator(nn.Module):
    """WGAN-GP toy code: noise -> 3 x dim ReLU -> 2-D point."""

    def __init__(self, z_dim: int = 2, dim: int = 512):
        super().__init__()
        self.net = _mlp([z_dim, dim, dim, dim, 2])
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ToyCritic(nn.Module):
    """WGAN-GP toy code: 2-D point -> 3 x dim ReLU -> score."""

    def __init__(self, dim: int = 512):
        super().__init__()
        self.net = _mlp([2, dim, dim, dim, 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


def _init_dcgan(m: nn.Module) -> None:
    # DCGAN paper / WGAN code: conv weights ~ N(0, 0.02), norm gains ~ N(1, 0.02)
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(cfg) -> tuple[nn.Module, nn.Module]:
    """(generator, critic) for a validated TrainConfig."""
    if cfg.arch == "toy":
        return ToyGenerator(cfg.noise_dim, cfg.dim), ToyCritic(cfg.dim)
    if cfg.arch == "mlp":
        return (MLPGenerator(cfg.noise_dim, cfg.channels, cfg.image_size, cfg.dim),
                MLPCritic(cfg.channels, cfg.image_size, cfg.dim))
    g = DCGANGenerator(cfg.noise_dim, cfg.channels, cfg.image_size, cfg.dim, cfg.g_batchnorm)
    d = DCGANCritic(cfg.channels, cfg.image_size, cfg.dim, cfg.d_norm)
    g.apply(_init_dcgan)
    d.apply(_init_dcgan)
    return g, d
