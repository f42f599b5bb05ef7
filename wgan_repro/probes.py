"""Small trainings behind single figures: each trains a critic (or discriminator) in a setting
the paper describes, with the one critic update of the package (`objectives.critic_step`).

- `fit_critic_1d`: WGAN Fig. 2 (a GAN discriminator and a WGAN critic between two 1-D Gaussians);
- `optimal_critic_fixed_generator`: WGAN-GP Fig. 1(a) (critics trained to optimality
  against a fixed "generator": the real data plus Gaussian noise, gan_toy.py's FIXED_GENERATOR);
- `critic_activation_gradient_norms`: WGAN-GP Fig. 1(b) (a deep ReLU critic, clipping vs penalty);
- `log_slope`: how a per-layer norm changes with depth (the slope of log10 of it per layer);
- `gan_generator_gradient_vs_discriminator_steps`: Arjovsky & Bottou 2017, Fig. 2;
- `critic_layer_weights`: the weights behind WGAN-GP Fig. 1(b)'s histograms.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import objectives
from .stream import BatchStream
from .toy import sample_toy
from .train import make_optimizer


def fit_critic_1d(mu_real: float = 0.0, mu_fake: float = 3.0, loss: str = "wgan", gp_weight: float = 10.0,
                  clip_value: float | None = None, steps: int = 1500, batch_size: int = 256, hidden: int = 64,
                  lr: float = 1e-3, seed: int = 0) -> tuple[nn.Module, float]:
    """Train a critic (or GAN discriminator) between fixed N(mu_real, 1) and N(mu_fake, 1).

    Returns (critic, E f(real) - E f(fake) on 20,000 fresh samples). With a 1-Lipschitz critic
    this estimates W1 = |mu_real - mu_fake| (WGAN Fig. 2 compares it with the GAN's D).
    """
    torch.manual_seed(seed)
    critic = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                           nn.Linear(hidden, 1))

    def forward(x):
        return critic(x).view(-1)

    opt = (torch.optim.RMSprop(critic.parameters(), lr=lr) if clip_value is not None
           else torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9)))
    for _ in range(steps):
        real = torch.randn(batch_size, 1) + mu_real
        fake = torch.randn(batch_size, 1) + mu_fake
        objectives.critic_step(forward, opt, real, fake, loss, gp_weight if loss == "wgan" else 0.0,
                               clip_value=clip_value, module=critic)
    with torch.no_grad():
        n = 20_000
        f_real, f_fake = forward(torch.randn(n, 1) + mu_real), forward(torch.randn(n, 1) + mu_fake)
        est = objectives.wasserstein_estimate(f_real, f_fake)
    return critic, est.item()


def optimal_critic_fixed_generator(dataset: str, method: str, steps: int = 2000, dim: int = 128,
                                   batch_size: int = 256, gp_weight: float = 10.0, seed: int = 0) -> nn.Module:
    """WGAN-GP Fig. 1(a): gan_toy.py's critic (3 x `dim` ReLU, tflib init) trained for `steps` steps
    against its FIXED_GENERATOR, the real batch plus N(0, 1) noise, with weight clipping (c = 0.01,
    RMSProp 5e-5) or the penalty (λ = gp_weight, Adam 1e-4, β = (0.5, 0.9)), as that file does."""
    from .models import ToyCritic, init_tflib

    if method not in ("clip", "gp"):
        raise ValueError(f"method={method!r} is not allowed: clip or gp")
    torch.manual_seed(seed)
    critic = init_tflib(ToyCritic(dim))
    opt = (torch.optim.RMSprop(critic.parameters(), lr=5e-5) if method == "clip"
           else torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9)))
    for _ in range(steps):
        real = sample_toy(dataset, batch_size)
        fake = real + torch.randn_like(real)
        objectives.critic_step(critic, opt, real, fake, "wgan", gp_weight if method == "gp" else 0.0,
                               clip_value=0.01 if method == "clip" else None)
    return critic


def critic_activation_gradient_norms(clip_value: float | None = None, gp_weight: float = 0.0, depth: int = 12,
                                     dim: int = 128, steps: int = 200, dataset: str = "swissroll",
                                     batch_size: int = 256, seed: int = 0) -> list[float]:
    """WGAN-GP Fig. 1(b): "the norm of the gradient of the critic loss with respect to successive
    layers of activations". A `depth`-layer ReLU critic is trained for `steps` steps between a toy
    set and fixed standard-normal points (the generator held fixed: a listed deviation), with
    clipping at `clip_value` (RMSProp 5e-5) or the penalty (Adam 1e-4). Then, on one more batch,
    ||dL/dh_l|| for the output h_l of every hidden layer l = 1 .. depth-1 (after its ReLU), input side
    first. The network runs in float64, so a gradient that shrinks by 1e-3 per layer is still a
    number, not an underflow to 0. steps = 0 reads the critic at initialisation (clipping: its weights
    clamped to ±clip_value, as the first clipping would leave them), where part of Fig. 1(b)'s effect is.
    """
    torch.manual_seed(seed)
    sizes = [2] + [dim] * (depth - 1) + [1]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    critic = nn.Sequential(*layers[:-1]).double()

    def forward(x):
        return critic(x.double()).view(-1)

    opt = (torch.optim.RMSprop(critic.parameters(), lr=5e-5) if clip_value is not None
           else torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9)))
    if steps == 0 and clip_value is not None:  # at initialisation: the weights as the first clipping leaves them
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-clip_value, clip_value)
    for _ in range(steps):
        real, fake = sample_toy(dataset, batch_size), torch.randn(batch_size, 2)
        objectives.critic_step(forward, opt, real, fake, "wgan", gp_weight, clip_value=clip_value, module=critic)
    real, fake = sample_toy(dataset, batch_size).double(), torch.randn(batch_size, 2).double()
    hidden = []

    def keep(module, inputs, output):
        output.retain_grad()
        hidden.append(output)

    hooks = [m.register_forward_hook(keep) for m in critic if isinstance(m, nn.ReLU)]
    try:
        loss = objectives.wgan_critic_loss(critic(real).view(-1), critic(fake).view(-1))
    finally:
        for h in hooks:
            h.remove()
    loss.backward()
    n = len(hidden) // 2  # the real batch's activations, then the fake batch's
    return [float(torch.cat([hidden[i].grad, hidden[n + i].grad]).norm()) for i in range(n)]


def log_slope(norms: list[float]) -> float:
    """Least-squares slope of log10(norm) against layer index: < 0 when gradients shrink towards the
    input (vanish), > 0 when they grow (explode); about 0 when stable across depth. nan when a norm
    is 0 (then the slope is not a number: report the zero instead)."""
    v = np.asarray(norms, float)
    if (v <= 0).any() or not np.isfinite(v).all():
        return float("nan")
    return float(np.polyfit(np.arange(1, len(v) + 1), np.log10(v), 1)[0])


def critic_layer_weights(critic: torch.nn.Module) -> np.ndarray:
    """All critic weight-matrix entries (not biases) as one array, for weight histograms."""
    return torch.cat([p.detach().flatten().cpu() for n, p in critic.named_parameters() if n.endswith("weight")
                      and p.dim() > 1]).numpy()


def gan_generator_gradient_vs_discriminator_steps(generator: nn.Module, cfg, d_steps: list[int], seed: int = 0,
                                                  n_probe: int = 64) -> list[dict]:
    """Arjovsky & Bottou 2017, Fig. 2: with a (briefly trained) generator fixed, train a discriminator
    *from scratch* (freshly initialised, as the paper does) alone for more and more steps, and
    measure the generator's gradient norm under the minimax loss log(1 - D(G(z))) and the
    non-saturating -log D(G(z)). cfg: the GAN run that trained `generator` (its data, D architecture
    and optimiser).
    """
    from .models import build_critic

    g = generator
    device = next(g.parameters()).device
    torch.manual_seed(seed + 1)
    d = build_critic(cfg).to(device)
    opt = make_optimizer(cfg, d.parameters(), cfg.lr_d)
    stream = BatchStream(cfg, device)
    z_probe = torch.randn(n_probe, cfg.noise_dim, generator=torch.Generator().manual_seed(seed + 7)).to(device)
    rows, done, loss = [], 0, None
    g.eval()
    for target in sorted(d_steps):
        while done < target:
            real = stream.next()
            with torch.no_grad():
                fake = g(torch.randn(cfg.batch_size, cfg.noise_dim, device=device))
            loss = objectives.critic_step(d, opt, real, fake, "gan").loss
            done += 1
        d_loss = float(loss.detach()) if loss is not None else float("nan")
        row = {"discriminator_steps": target, "discriminator_loss": d_loss}
        for name, ns in (("minimax", False), ("non_saturating", True)):
            g.zero_grad(set_to_none=True)
            objectives.gan_generator_loss(d(g(z_probe)), non_saturating=ns).backward()
            row[f"generator_grad_norm_{name}"] = math.sqrt(sum(float(p.grad.pow(2).sum())
                                                               for p in g.parameters() if p.grad is not None))
        rows.append(row)
    return rows
