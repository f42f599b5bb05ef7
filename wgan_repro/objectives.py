"""Losses (standard GAN, WGAN) and the two Lipschitz methods (weight clipping, gradient penalty).

All critics return one unbounded score per example; for the standard GAN it is the logit of D.
Every loss here is minimised.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------- WGAN
def wasserstein_estimate(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """E[f(x)] - E[f(G(z))]: the critic's estimate of W(P_r, P_g) (up to its Lipschitz constant)."""
    return f_real.mean() - f_fake.mean()


def wgan_critic_loss(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """The critic maximises E f(x) - E f(G(z)) (WGAN Alg. 1 line 5): minimise its negative."""
    return -wasserstein_estimate(f_real, f_fake)


def wgan_generator_loss(f_fake: torch.Tensor) -> torch.Tensor:
    """The generator minimises -E f(G(z)) (WGAN Alg. 1 line 10)."""
    return -f_fake.mean()


# ---------------------------------------------------------------------- standard GAN
def gan_discriminator_loss(logit_real: torch.Tensor, logit_fake: torch.Tensor) -> torch.Tensor:
    """-E log D(x) - E log(1 - D(G(z))) with D = sigmoid(logit); softplus for stability."""
    return F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()


def gan_generator_loss(logit_fake: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """Minimax: E log(1 - D(G(z))) (saturates when D wins); non-saturating: -E log D(G(z))."""
    if non_saturating:
        return F.softplus(-logit_fake).mean()
    return -F.softplus(logit_fake).mean()


def critic_loss(loss: str, f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    return wgan_critic_loss(f_real, f_fake) if loss == "wgan" else gan_discriminator_loss(f_real, f_fake)


def generator_loss(loss: str, f_fake: torch.Tensor) -> torch.Tensor:
    if loss == "wgan":
        return wgan_generator_loss(f_fake)
    return gan_generator_loss(f_fake, non_saturating=loss == "gan-ns")


# ---------------------------------------------------------------------- Lipschitz methods
@torch.no_grad()
def clip_weights(critic: nn.Module, c: float) -> None:
    """Clamp every critic parameter to [-c, c] (WGAN Alg. 1 line 7), after each critic step: two
    foreach kernels for all of them (the same numbers as one clamp_ per parameter)."""
    params = list(critic.parameters())
    torch._foreach_clamp_min_(params, -c)
    torch._foreach_clamp_max_(params, c)


def input_gradient_norms(critic: nn.Module, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """||grad_x f(x)||_2 per example, over all non-batch dimensions.

    A tiny constant under the square root keeps the norm differentiable at a zero gradient
    (d sqrt(s)/ds is infinite at 0); it shifts the norm by at most 1e-6.
    """
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
    return torch.sqrt(grad.flatten(1).pow(2).sum(1) + 1e-12)


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x_hat = eps * x + (1 - eps) * x_tilde with one eps ~ U[0, 1] per example (WGAN-GP Alg. 1 line 6)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, generator=generator)
    return eps * real.detach() + (1 - eps) * fake.detach()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     one_sided: bool = False, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """lambda * E[(||grad f(x_hat)||_2 - 1)^2] (WGAN-GP Alg. 1 line 7); one-sided: max(0, .)^2.

    Returns (penalty, gradient norms at x_hat) so the trainer can log the norms; generator: where
    eps is drawn from (None: torch's global RNG).
    """
    norms = input_gradient_norms(critic, interpolate(real, fake, generator), create_graph=True)
    gap = norms - 1
    if one_sided:
        gap = gap.clamp(min=0)
    return weight * gap.pow(2).mean(), norms.detach()


# ---------------------------------------------------------------------- one critic update
class CriticStep(NamedTuple):
    f_real: torch.Tensor
    f_fake: torch.Tensor
    loss: torch.Tensor          # the objective's critic loss, without the penalty
    penalty: torch.Tensor       # lambda * E[(||grad|| - 1)^2], 0 without a penalty
    interp_norms: torch.Tensor | None  # gradient norms at the interpolates (the penalty's own pass)
    total: torch.Tensor         # loss + penalty: what was minimised


def critic_step(critic, optimizer: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor,
                loss: str = "wgan", gp_weight: float = 0.0, one_sided: bool = False,
                clip_value: float | None = None, module: nn.Module | None = None,
                generator: torch.Generator | None = None) -> CriticStep:
    """One critic (or GAN discriminator) update: WGAN Alg. 1 lines 3-7 (loss, RMSProp step, clip
    to [-c, c] after the step) / WGAN-GP Alg. 1 lines 3-9 (loss + penalty, Adam step).

    critic: the module, or a function of it (e.g. a reshaping wrapper); module: the critic's
    module when `critic` is such a function (its parameters are clipped). `fake` must carry no
    generator graph (draw it under no_grad). generator: the penalty's random numbers (None: global RNG).
    Gradients stay in persistent buffers (zeroed, not freed): the step can be captured in a CUDA graph.
    """
    f_real, f_fake = critic(real), critic(fake)
    loss_d = critic_loss(loss, f_real, f_fake)
    penalty, norms = torch.zeros((), device=real.device), None
    if gp_weight > 0:
        penalty, norms = gradient_penalty(critic, real, fake, gp_weight, one_sided, generator)
    total = loss_d + penalty
    optimizer.zero_grad(set_to_none=False)
    total.backward()
    optimizer.step()
    if clip_value is not None:
        clip_weights(module if module is not None else critic, clip_value)
    return CriticStep(f_real, f_fake, loss_d, penalty, norms, total)
