"""Generators and critics of both papers, each following the official code it cites.

- `DCGANGenerator` / `DCGANCritic`: the WGAN code (martinarjovsky/WassersteinGAN,
  models/dcgan.py): 4x4 (de)convolutions, a ConvTranspose first layer, N(0, 0.02) weights.
  `g_batchnorm=False` is that code's `--noBN` generator (DCGAN_G_nobn).
- `ConvGenerator` / `ConvCritic`: the WGAN-GP code (igul222/improved_wgan_training):
  a Linear first layer, 5x5 (de)convolutions, z = 128; gan_mnist.py at 28 px, gan_cifar.py at
  32 px, gan_64x64.py's DCGANGenerator/DCGANDiscriminator at 64 px. `constant_filters=True` is
  gan_64x64.py's `WGANPaper_CrippledDCGANGenerator`: no batch norm and `dim` filters in every
  layer, the generator of WGAN Fig. 6.
- `MLPGenerator` / `MLPCritic`: 4 hidden layers x 512 ReLU (WGAN §4, Fig. 7).
- `ToyGenerator` / `ToyCritic`: gan_toy.py's 3 x 512 ReLU MLPs.
- `Table1Generator` / `Table1Critic`: WGAN-GP §5.1's random architectures (Table 1's set).
WGAN-GP models are initialised as its tflib does (`init_tflib`), WGAN models as its `weights_init`
(`init_dcgan`). A penalised critic gets layer norm or none, never batch norm (WGAN-GP §4: the
penalty is per example; batch norm mixes examples).
"""
from __future__ import annotations

import math
import random
from contextlib import contextmanager

import torch
from torch import nn

from .config import table1_index


def _critic_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # normalise over (C, H, W) of each example (gan_64x64.py's Layernorm)
        return nn.GroupNorm(1, channels)
    return nn.Identity()


# ---------------------------------------------------------------------- WGAN code (models/dcgan.py)
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


# ---------------------------------------------------------------------- WGAN-GP code (gan_mnist/cifar/64x64.py)
def _deconv(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    """tflib Deconv2D: 5x5, stride 2, doubles the side."""
    return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)


class ConvGenerator(nn.Module):
    """z (B, 128) -> Linear -> 4x4 maps -> 5x5 deconvolutions -> image in [-1, 1].

    Widths: 4*dim, 2*dim, dim at 28/32 px (gan_mnist.py, gan_cifar.py); 8*dim ... dim at 64 px
    (gan_64x64.py). 28 px crops the 8x8 maps to 7x7 as gan_mnist.py does. constant_filters:
    `dim` everywhere and no batch norm (WGANPaper_CrippledDCGANGenerator, WGAN Fig. 6).
    """

    def __init__(self, z_dim: int = 128, channels: int = 3, image_size: int = 32, dim: int = 64,
                 batchnorm: bool = True, constant_filters: bool = False):
        super().__init__()
        n_up = {28: 3, 32: 3, 64: 4}[image_size]
        widths = [dim] * n_up if constant_filters else [dim * 2 ** k for k in reversed(range(n_up))]
        batchnorm = batchnorm and not constant_filters
        self.first_width, self.crop = widths[0], image_size == 28
        self.input = nn.Linear(z_dim, 4 * 4 * widths[0])
        # gan_mnist/gan_cifar normalise the Linear's outputs (axes [0]); gan_64x64 the 4x4 maps
        self.input_norm = (nn.Identity() if not batchnorm else
                           nn.BatchNorm2d(widths[0]) if image_size == 64 else nn.BatchNorm1d(4 * 4 * widths[0]))
        self.ups = nn.ModuleList(_deconv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) if batchnorm else nn.Identity() for b in widths[1:])
        self.output = _deconv(widths[-1], channels)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.input(z.view(z.shape[0], -1))
        if isinstance(self.input_norm, nn.BatchNorm1d):
            x = self.input_norm(x)
        x = x.view(-1, self.first_width, 4, 4)
        if isinstance(self.input_norm, nn.BatchNorm2d):
            x = self.input_norm(x)
        x = torch.relu(x)
        for i, (up, norm) in enumerate(zip(self.ups, self.norms)):
            x = torch.relu(norm(up(x)))
            if i == 0 and self.crop:
                x = x[:, :, :7, :7]
        return torch.tanh(self.output(x))


class ConvCritic(nn.Module):
    """image -> 5x5 stride-2 convolutions (dim, 2*dim, 4*dim[, 8*dim]) down to 4x4 -> Linear -> score.

    norm: 'batch' (the codes' WGAN/clipping mode), 'none' (gan_mnist/gan_cifar with the
    penalty), 'layer' (gan_64x64.py with the penalty). No norm on the input layer.
    """

    def __init__(self, channels: int = 3, image_size: int = 32, dim: int = 64, norm: str = "none"):
        super().__init__()
        n_down = {28: 3, 32: 3, 64: 4}[image_size]
        widths = [channels] + [dim * 2 ** k for k in range(n_down)]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers += [nn.Conv2d(a, b, 5, stride=2, padding=2),
                       nn.Identity() if i == 0 else _critic_norm(norm, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)
        self.output = nn.Linear(4 * 4 * widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.net(x).flatten(1)).view(-1)


# ---------------------------------------------------------------------- WGAN-GP §5.1, Table 1: random architectures
TABLE1 = {"nonlinearity": ("relu", "leakyrelu", "softplus", "tanh"), "depth": (4, 8, 12, 20),
          "normalize": (True, False), "base_filters": (32, 64, 128)}


def table1_architecture(k: int) -> dict:
    """Architecture k of WGAN-GP Table 1's set (per network: nonlinearity, depth, normalisation, base filters),
    drawn uniformly by an RNG seeded with k. Depth = the DCGAN's 4 layers plus 3x3 convolutions (our reading)."""
    rng = random.Random(k)
    return {net: {key: rng.choice(values) for key, values in TABLE1.items()} for net in ("generator", "critic")}


class _SoftElu(nn.Module):  # softplus(2x + 2)/2 - 1: WGAN-GP App. D's smooth stand-in for ELU
    def forward(self, x):
        return nn.functional.softplus(2 * x + 2) / 2 - 1


def _nonlinearity(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "leakyrelu": nn.LeakyReLU(0.2), "tanh": nn.Tanh(), "softplus": _SoftElu()}[name]


def _extra_layers(depth: int, stage: int) -> int:  # the (depth - 4) 3x3 layers, round-robin over 3 stages
    return (depth - 4) // 3 + (1 if stage < (depth - 4) % 3 else 0)


class Table1Generator(nn.Module):
    """gan_mnist/cifar.py's generator, a Table 1 draw: filters x dim/64, depth - 4 3x3 convs over 3 resolutions."""

    def __init__(self, spec: dict, z_dim: int = 128, channels: int = 1, image_size: int = 28, dim: int = 64):
        super().__init__()
        base, act = max(1, spec["base_filters"] * dim // 64), spec["nonlinearity"]
        widths, norm = [4 * base, 2 * base, base], nn.BatchNorm2d if spec["normalize"] else (lambda c: nn.Identity())
        self.input, self.first_width, self.crop = nn.Linear(z_dim, 16 * widths[0]), widths[0], image_size == 28
        stages = []
        for i, w in enumerate(widths):
            layers = [norm(w), _nonlinearity(act)]
            for _ in range(_extra_layers(spec["depth"], i)):
                layers += [nn.Conv2d(w, w, 3, padding=1), norm(w), _nonlinearity(act)]
            layers += [_deconv(w, widths[i + 1])] if i + 1 < len(widths) else []
            stages.append(nn.Sequential(*layers))
        self.stages, self.output, self.z_dim = nn.ModuleList(stages), _deconv(widths[-1], channels), z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.input(z.view(z.shape[0], -1)).view(-1, self.first_width, 4, 4)
        for i, stage in enumerate(self.stages):
            x = stage(x)[:, :, :7, :7] if i == 0 and self.crop else stage(x)  # 28 px: 8x8 -> 7x7 (gan_mnist.py)
        return torch.tanh(self.output(x))


class Table1Critic(nn.Module):
    """gan_mnist/cifar.py's critic with Table 1's nonlinearity, `norm` ('layer': WGAN-GP, 'batch': GAN)
    where the draw normalises, base filters x dim/64, and depth - 4 extra 3x3 convolutions."""

    def __init__(self, spec: dict, channels: int = 1, image_size: int = 28, dim: int = 64, norm: str = "layer"):
        super().__init__()
        base, act = max(1, spec["base_filters"] * dim // 64), spec["nonlinearity"]
        kind, widths, layers = norm if spec["normalize"] else "none", [channels, base, 2 * base, 4 * base], []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers += [nn.Conv2d(a, b, 5, stride=2, padding=2),
                       nn.Identity() if i == 0 else _critic_norm(kind, b), _nonlinearity(act)]
            for _ in range(_extra_layers(spec["depth"], i)):
                layers += [nn.Conv2d(b, b, 3, padding=1), _critic_norm(kind, b), _nonlinearity(act)]
        self.net, self.output = nn.Sequential(*layers), nn.Linear(16 * widths[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.net(x).flatten(1)).view(-1)


# ---------------------------------------------------------------------- MLPs
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


# ---------------------------------------------------------------------- initialisation
def init_dcgan(m: nn.Module) -> None:
    """The WGAN code's weights_init: conv weights ~ N(0, 0.02), norm gains ~ N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _uniform_std_(w: torch.Tensor, std: float) -> None:
    # tflib draws U(-std*sqrt(3), std*sqrt(3)), the uniform law with that standard deviation
    nn.init.uniform_(w, -std * math.sqrt(3), std * math.sqrt(3))


def init_tflib(model: nn.Module, fixed_std: float | None = None) -> nn.Module:
    """The WGAN-GP code's tflib initialisation, zero biases everywhere:
    - Linear followed by ReLU: He, std sqrt(2 / fan_in) (ReLULayer, initialization='he');
      other Linear layers: Glorot, std sqrt(2 / (fan_in + fan_out)) (tflib's default);
    - Conv2D: std sqrt(4 / (fan_in + fan_out)) with fan_out = c_out k^2 / stride^2;
      Deconv2D: fan_in = c_in k^2 / 4, fan_out = c_out k^2;
    - fixed_std: every weight U with that std (gan_64x64.py's DCGANGenerator: 0.02).
    """
    modules = list(model.modules())
    for i, m in enumerate(modules):
        if isinstance(m, nn.Linear):
            followed_by_relu = i + 1 < len(modules) and isinstance(modules[i + 1], nn.ReLU)
            std = math.sqrt(2 / m.in_features) if followed_by_relu else math.sqrt(2 / (m.in_features + m.out_features))
        elif isinstance(m, nn.ConvTranspose2d):
            k2 = m.kernel_size[0] * m.kernel_size[1]
            std = math.sqrt(4 / (m.in_channels * k2 / 4 + m.out_channels * k2))
        elif isinstance(m, nn.Conv2d):
            k2 = m.kernel_size[0] * m.kernel_size[1]
            std = math.sqrt(4 / (m.in_channels * k2 + m.out_channels * k2 / m.stride[0] ** 2))
        else:
            continue
        _uniform_std_(m.weight, fixed_std if fixed_std is not None else std)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return model


# ---------------------------------------------------------------------- building and sampling
def build_generator(cfg) -> nn.Module:
    arch = cfg.generator_arch
    if arch == "toy":
        return init_tflib(ToyGenerator(cfg.noise_dim, cfg.dim))
    if arch == "mlp":
        return MLPGenerator(cfg.noise_dim, cfg.channels, cfg.image_size, cfg.generator_dim)
    if arch == "dcgan":
        g = DCGANGenerator(cfg.noise_dim, cfg.channels, cfg.image_size, cfg.generator_dim, cfg.g_batchnorm)
        g.apply(init_dcgan)
        return g
    if (k := table1_index(arch)) is not None:
        spec = table1_architecture(k)["generator"]
        return init_tflib(Table1Generator(spec, cfg.noise_dim, cfg.channels, cfg.image_size, cfg.generator_dim))
    constant = arch == "gp-constant"
    g = ConvGenerator(cfg.noise_dim, cfg.channels, cfg.image_size, cfg.generator_dim, cfg.g_batchnorm, constant)
    # gan_64x64.py's DCGANGenerator sets every weight's std to 0.02; the 28/32 px ones use tflib's default
    return init_tflib(g, 0.02 if cfg.image_size == 64 and not constant else None)


def build_critic(cfg) -> nn.Module:
    if cfg.arch == "toy":
        return init_tflib(ToyCritic(cfg.dim))
    if cfg.arch == "mlp":
        return MLPCritic(cfg.channels, cfg.image_size, cfg.dim)
    if cfg.arch == "dcgan":
        d = DCGANCritic(cfg.channels, cfg.image_size, cfg.dim, cfg.d_norm)
        d.apply(init_dcgan)
        return d
    if (k := table1_index(cfg.arch)) is not None:
        spec = table1_architecture(k)["critic"]
        return init_tflib(Table1Critic(spec, cfg.channels, cfg.image_size, cfg.dim, cfg.d_norm))
    return init_tflib(ConvCritic(cfg.channels, cfg.image_size, cfg.dim, cfg.d_norm))


def build_models(cfg) -> tuple[nn.Module, nn.Module]:
    """(generator, critic) for a validated TrainConfig; arch picks the critic, g_arch the generator."""
    return build_generator(cfg), build_critic(cfg)


@contextmanager
def sampling(generator: nn.Module, batch_stats: bool = True):
    """Draw samples as both official codes do: batch norm with the batch's own statistics
    (training mode), while the running statistics stay exactly as they were.
    batch_stats=False: eval mode (running statistics)."""
    was_training = generator.training
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in norms if m.track_running_stats]
    generator.train(batch_stats)
    try:
        with torch.no_grad():
            yield generator
    finally:
        for m, (mean, var, count) in zip([m for m in norms if m.track_running_stats], saved):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
        generator.train(was_training)
