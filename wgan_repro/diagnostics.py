"""What a logged generator iteration records besides the losses (WGAN Figs. 3-4, WGAN-GP Figs. 1b and 5b),
and the non-finite check a checkpoint must pass."""
from __future__ import annotations

import math

import torch
from torch import nn

from . import objectives
from .models import sampling


def first_non_finite(generator: nn.Module, critic: nn.Module, *optimizers) -> str | None:
    """Name of the first weight or optimiser-state tensor holding NaN/inf (one sync per device)."""
    named = [(f"generator.{n}", t) for n, t in generator.state_dict().items()]
    named += [(f"critic.{n}", t) for n, t in critic.state_dict().items()]
    for k, opt in enumerate(optimizers):
        for pid, state in opt.state.items():
            named += [(f"optimizer {k} state {pid}.{n}", t) for n, t in state.items() if torch.is_tensor(t)]
    named = [(n, t) for n, t in named if t.is_floating_point()]
    if not named:
        return None
    ok = [True] * len(named)
    for device in {t.device for _, t in named}:  # Adam keeps its step count on the CPU
        where = [i for i, (_, t) in enumerate(named) if t.device == device]
        for i, finite in zip(where, torch.stack([torch.isfinite(named[i][1]).all() for i in where]).tolist()):
            ok[i] = finite
    return next((name for (name, _), finite in zip(named, ok) if not finite), None)


def grad_norm(module: nn.Module) -> float:
    sq = [p.grad.pow(2).sum() for p in module.parameters() if p.grad is not None]
    return float(torch.sqrt(torch.stack(sq).sum())) if sq else 0.0


def weight_stats(critic: nn.Module, clip_value: float | None) -> dict:
    w = torch.cat([p.detach().flatten() for p in critic.parameters()]).abs()
    stats = {"critic_weight_absmax": float(w.max()), "critic_weight_absmean": float(w.mean())}
    if clip_value is not None:
        # share of weights sitting at the clipping boundary (WGAN-GP Fig. 1b)
        stats["critic_weight_at_clip"] = float((w >= 0.99 * clip_value).float().mean())
    return stats


def diagnostics(cfg, critic, real, fake, step: objectives.CriticStep, loss_g, rng=None) -> dict:
    """What a logged iteration records besides the losses (WGAN Figs. 3-4, WGAN-GP Fig. 1b)."""
    loss_d, interp_norms = step.loss, step.interp_norms
    row = {"wasserstein_estimate": objectives.wasserstein_estimate(step.f_real, step.f_fake).item(),
           "loss_critic": loss_d.item(), "loss_generator": loss_g.item(), "gradient_penalty": step.penalty.item()}
    if cfg.loss != "wgan":
        # at the optimal D, -loss_D = 2 JS - log 4  (Goodfellow et al. 2014, Thm. 1)
        row["js_estimate"] = math.log(2) - loss_d.item() / 2
    k = min(64, cfg.batch_size)
    row["critic_grad_norm_real"] = float(objectives.input_gradient_norms(critic, real[:k]).mean())
    row["critic_grad_norm_fake"] = float(objectives.input_gradient_norms(critic, fake[:k]).mean())
    row["critic_grad_norm_interp"] = float(  # the penalty's own pass when there is one
        interp_norms.mean() if interp_norms is not None else
        objectives.input_gradient_norms(critic, objectives.interpolate(real[:k], fake[:k], rng)).mean())
    row.update(weight_stats(critic, cfg.clip_value))
    return row


@torch.no_grad()
def heldout_estimate(nets, step: objectives.CriticStep) -> dict:
    """The critic's W estimate with held-out real images against the same generated batch (WGAN-GP
    Fig. 5b: beside the training estimate, it shows when the critic overfits)."""
    real = nets.stream.heldout_batch()
    if real is None:
        return {}
    with sampling(nets.critic):  # batch statistics as in training, running statistics left untouched
        f_real = nets.critic(real)
    return {"wasserstein_estimate_heldout": objectives.wasserstein_estimate(f_real, step.f_fake).item()}


__all__ = ["diagnostics", "first_non_finite", "grad_norm", "heldout_estimate", "weight_stats"]
