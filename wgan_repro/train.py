"""One training loop for every variant: GAN, WGAN (clipping), WGAN-GP.

WGAN Alg. 1 / WGAN-GP Alg. 1: for each generator iteration, `critic_steps_for(...)` critic
steps on fresh real and generated batches (clipping after each, or the penalty inside the
loss), then one generator step. Everything random comes from torch's global RNG seeded with
`cfg.seed`; its state, the optimisers and the data position are checkpointed, so a killed
and resumed run continues the very same curve.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from . import objectives
from .config import ConfigError, TrainConfig, WganReproError
from .device import available_memory, resolve_device
from .data import BatchStream
from .toy import sample_toy
from .models import build_models, sampling
from .rundir import RunDir, TrainResult, read_history


class TrainingDiverged(WganReproError, RuntimeError):
    """A loss or a weight became NaN or infinite; the last good checkpoint is kept."""


def critic_steps_for(generator_iteration: int, n_critic: int, schedule: str = "constant") -> int:
    """Critic steps before generator iteration `generator_iteration` (0-based).

    'wgan': the WGAN reference code trains the critic 100 times for the first 25 generator
    iterations and every 500th, so the critic is near-optimal when its W estimate is read.
    """
    if schedule == "wgan" and (generator_iteration < 25 or generator_iteration % 500 == 0):
        return 100
    return n_critic


def critic_steps_total(iterations: int, n_critic: int, schedule: str = "constant") -> int:
    """sum(critic_steps_for(i, ...) for i in range(iterations)), without the loop."""
    heavy = 0
    if schedule == "wgan" and iterations > 0:
        heavy = min(iterations, 25) + max(0, (iterations - 1) // 500)  # i < 25, and i = 500, 1000, ... < iterations
    return heavy * 100 + (iterations - heavy) * n_critic


def estimated_memory(cfg: TrainConfig) -> int:
    """A generous estimate of the bytes one training step needs: every layer's activations for a batch
    (width x positions), kept for the backward pass and, with the penalty, its double backward."""
    positions = 1 if cfg.is_toy else cfg.image_size ** 2
    layers = 4 if cfg.is_toy else 8
    passes = 6 if cfg.gp_weight > 0 else 3
    return cfg.batch_size * max(cfg.dim, cfg.generator_dim) * positions * layers * passes * 4


def check_memory(cfg: TrainConfig, device: torch.device) -> None:
    """Refuse, before anything is written, a run whose step cannot fit in the device's memory."""
    need, have = estimated_memory(cfg), available_memory(device)
    if have and need > have:
        raise ConfigError(f"batch_size={cfg.batch_size} is not allowed here: a step with dim={cfg.dim} needs about "
                          f"{need / 2**30:.1f} GiB, this machine has {have / 2**30:.1f} GiB available ({device})")


def make_optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


def _first_non_finite(generator: nn.Module, critic: nn.Module, *optimizers) -> str | None:
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


def _grad_norm(module: nn.Module) -> float:
    sq = [p.grad.pow(2).sum() for p in module.parameters() if p.grad is not None]
    return float(torch.sqrt(torch.stack(sq).sum())) if sq else 0.0


def _weight_stats(critic: nn.Module, clip_value: float | None) -> dict:
    w = torch.cat([p.detach().flatten() for p in critic.parameters()]).abs()
    stats = {"critic_weight_absmax": float(w.max()), "critic_weight_absmean": float(w.mean())}
    if clip_value is not None:
        # share of weights sitting at the clipping boundary (WGAN-GP Fig. 1b)
        stats["critic_weight_at_clip"] = float((w >= 0.99 * clip_value).float().mean())
    return stats


def fixed_noise(cfg: TrainConfig, n: int = 64) -> torch.Tensor:
    """The same noise for every sample figure of a run (its own RNG: does not disturb training)."""
    return torch.randn(n, cfg.noise_dim, generator=torch.Generator().manual_seed(cfg.seed + 10_007))


def _diagnostics(cfg, critic, real, fake, step: objectives.CriticStep, loss_g) -> dict:
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
        objectives.input_gradient_norms(critic, objectives.interpolate(real[:k], fake[:k])).mean())
    row.update(_weight_stats(critic, cfg.clip_value))
    return row


@torch.no_grad()
def _heldout_estimate(nets: _Nets, step: objectives.CriticStep) -> dict:
    """The critic's W estimate with held-out real images against the same generated batch (WGAN-GP
    Fig. 5b: beside the training estimate, it shows when the critic overfits)."""
    real = nets.stream.heldout_batch()
    if real is None:
        return {}
    with sampling(nets.critic):  # batch statistics as in training, running statistics left untouched
        f_real = nets.critic(real)
    return {"wasserstein_estimate_heldout": objectives.wasserstein_estimate(f_real, step.f_fake).item()}


class _Nets:
    """What a run trains and checkpoints: the two networks, their optimisers, the data stream."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.generator, self.critic = (m.to(device) for m in build_models(cfg))
        self.opt_g = make_optimizer(cfg, self.generator.parameters(), cfg.lr_g)
        self.opt_d = make_optimizer(cfg, self.critic.parameters(), cfg.lr_d)
        self.stream = BatchStream(cfg, device)

    def restore(self, state: dict | None) -> int:
        """Load a checkpoint's state (RNG included); the generator iteration to continue from."""
        if state is None:
            return 0
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.stream.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng_cpu"].cpu())  # the checkpoint may be mapped onto the GPU
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"].cpu(), self.device)
        return state["iteration"]

    def state(self, done: int) -> dict:
        cuda = self.device.type == "cuda"
        return {"iteration": done, "config": self.cfg.to_dict(),
                "generator": self.generator.state_dict(), "critic": self.critic.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "stream": self.stream.state_dict(),
                "rng_cpu": torch.get_rng_state(), "rng_cuda": torch.cuda.get_rng_state(self.device) if cuda else None}

    def noise(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch_size, self.cfg.noise_dim, device=self.device)


def _checkpoint(run: RunDir, nets: _Nets, done: int) -> None:
    # never write a poisoned checkpoint over the last good one: weights and optimiser state first
    bad = _first_non_finite(nets.generator, nets.critic, nets.opt_g, nets.opt_d)
    if bad is not None:
        raise _diverged(run, f"{bad} is not finite", done - 1)
    run.save_checkpoint(nets.state(done))


def _diverged(run: RunDir, what: str, it: int) -> TrainingDiverged:
    return TrainingDiverged(f"{what} at generator iteration {it}: training stopped; "
                            f"last good checkpoint: {run.last_good()}")


def _save_samples(run: RunDir, nets: _Nets, noise: torch.Tensor, toy_real, done: int) -> None:
    from . import plots

    with sampling(nets.generator):  # batch statistics, as the official codes sample
        fake = nets.generator(noise).cpu()
    path = run.sample_path(done)
    if nets.cfg.is_toy:
        plots.save_toy_figure(path, toy_real, fake, nets.critic, title=f"iteration {done}")
    else:
        plots.save_image_grid(path, fake)
    run.log_image(path)


def _finite_grad_norm(run: RunDir, generator: nn.Module, step, loss_g, it: int) -> float:
    """The generator's gradient norm, after checking both losses are finite (a logged iteration)."""
    g_grad = _grad_norm(generator)
    for name, value in (("critic loss", step.total), ("generator loss", loss_g)):
        if not math.isfinite(value.item()):
            raise _diverged(run, f"{name} is {value.item()}", it)
    return g_grad


def _due(every: int, done: int, last: int) -> bool:
    return bool(every and done % every == 0) or done == last


def train(cfg: TrainConfig, overwrite: bool = False) -> TrainResult:
    """Train `cfg` (WGAN Alg. 1 / WGAN-GP Alg. 1); the run's files go to cfg.out_dir (`RunDir`).

    overwrite: start afresh even if out_dir holds a run (otherwise that is an error, unless
    cfg.resume, which continues it).
    """
    from tqdm.auto import tqdm

    check_memory(cfg, device := resolve_device(cfg.device))
    with RunDir(cfg, overwrite) as run:
        torch.manual_seed(cfg.seed)
        nets = _Nets(cfg, device)
        generator, critic, opt_g = nets.generator, nets.critic, nets.opt_g
        run.start(start := nets.restore(run.resume_state(device)))
        noise = fixed_noise(cfg).to(device)
        toy_real = sample_toy(cfg.dataset, 1000, torch.Generator().manual_seed(cfg.seed)) if cfg.is_toy else None
        bar = tqdm(range(start, cfg.iterations), initial=start, total=cfg.iterations, disable=not cfg.progress,
                   desc=f"{cfg.loss} {cfg.dataset} ({device.type})", dynamic_ncols=True, mininterval=2.0)
        t_start = time.perf_counter()
        with bar, run.deferred_stop():  # SIGINT/SIGTERM: finish the iteration, checkpoint, then stop
            for it in bar:
                t0 = time.perf_counter()
                generator.train()
                critic.train()
                # --- critic: n_critic steps (WGAN Alg. 1 lines 2-8; WGAN-GP Alg. 1 lines 2-10)
                critic.requires_grad_(True)
                n_steps = critic_steps_for(it, cfg.n_critic, cfg.critic_schedule)
                for _ in range(n_steps):
                    real = nets.stream.next()
                    with torch.no_grad():
                        fake = generator(nets.noise())
                    step = objectives.critic_step(critic, nets.opt_d, real, fake, cfg.loss, cfg.gp_weight,
                                                  cfg.gp_one_sided, cfg.clip_value)
                # --- generator: one step (WGAN Alg. 1 lines 9-10; WGAN-GP Alg. 1 lines 11-12)
                critic.requires_grad_(False)  # no critic gradients during the generator step
                fake = generator(nets.noise())
                loss_g = objectives.generator_loss(cfg.loss, critic(fake))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                done = it + 1
                # Values are read on logged iterations only: a read makes the host wait for the
                # device, so between logs the loop never does.
                logged = it % cfg.log_every == 0 or done == cfg.iterations
                g_grad = _finite_grad_norm(run, generator, step, loss_g, it) if logged else None
                opt_g.step()
                critic.requires_grad_(True)
                if logged:
                    row = {"iteration": it, "critic_steps": n_steps, "generator_grad_norm": g_grad,
                           **_diagnostics(cfg, critic, real, fake, step, loss_g), **_heldout_estimate(nets, step),
                           "seconds_per_iteration":
                           time.perf_counter() - t0, "wall_time": time.perf_counter() - t_start}
                    run.log(row)
                    bar.set_postfix(W=f"{row['wasserstein_estimate']:.4f}", refresh=False)
                if _due(cfg.sample_every, done, cfg.iterations):
                    _save_samples(run, nets, noise, toy_real, done)
                if _due(cfg.checkpoint_every, done, cfg.iterations) or run.stop_requested:
                    _checkpoint(run, nets, done)
                run.stop_if_requested(done)
    # the full curve, including the part before a resumption
    return TrainResult(cfg, generator, critic, run.path, read_history(run.path))
