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
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import objectives
from .config import ConfigError, TrainConfig
from .data import BatchStream, sample_toy
from .models import build_models, sampling
from .rundir import RunDir, RunExistsError, RunLockedError, read_history  # noqa: F401 (re-exported)

# Fields that may differ between a run and its resumption.
RUNTIME_FIELDS = {"resume", "overwrite", "iterations", "progress", "out_dir", "sample_every",
                  "checkpoint_every", "log_every", "dvclive", "device", "keep_checkpoints"}


class TrainingDiverged(RuntimeError):
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


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} is not allowed here: no CUDA device is visible (use 'auto' or 'cpu')")
    return torch.device(name)


def make_optimizer(cfg: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


@dataclass
class TrainResult:
    cfg: TrainConfig
    generator: nn.Module
    critic: nn.Module
    out_dir: Path
    history: list[dict] = field(default_factory=list)

    def series(self, key: str) -> list[float]:
        return [row[key] for row in self.history if key in row]


def _first_non_finite(generator: nn.Module, critic: nn.Module, *optimizers) -> str | None:
    """Name of the first weight or optimiser-state tensor holding NaN/inf (one sync for all)."""
    named = [(f"generator.{n}", t) for n, t in generator.state_dict().items()]
    named += [(f"critic.{n}", t) for n, t in critic.state_dict().items()]
    for k, opt in enumerate(optimizers):
        for pid, state in opt.state.items():
            named += [(f"optimizer {k} state {pid}.{n}", t) for n, t in state.items() if torch.is_tensor(t)]
    named = [(n, t) for n, t in named if t.is_floating_point()]
    if not named:
        return None
    ok = torch.stack([torch.isfinite(t).all() for _, t in named]).cpu()
    return None if bool(ok.all()) else named[int((~ok).nonzero()[0])][0]


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


def load_generator(checkpoint: str | Path, device: str = "cpu") -> tuple[nn.Module, TrainConfig]:
    """The generator and config stored in a checkpoint file (one line when it is not one)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(f"checkpoint={str(path)!r} is not allowed: no such file")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
        cfg = TrainConfig(**{**state["config"], "progress": False})
        g, _ = build_models(cfg)
        g.load_state_dict(state["generator"])
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"checkpoint={str(path)!r} is not allowed: not a wgan-repro checkpoint "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return g.to(device).eval(), cfg


def fixed_noise(cfg: TrainConfig, n: int = 64) -> torch.Tensor:
    """The same noise for every sample figure of a run (its own RNG: does not disturb training)."""
    return torch.randn(n, cfg.noise_dim, generator=torch.Generator().manual_seed(cfg.seed + 10_007))


def _diagnostics(cfg, critic, real, fake, f_real, f_fake, loss_d, loss_g, penalty, interp_norms) -> dict:
    """What a logged iteration records besides the losses (WGAN Figs. 3-4, WGAN-GP Fig. 1b)."""
    row = {"wasserstein_estimate": objectives.wasserstein_estimate(f_real, f_fake).item(),
           "loss_critic": loss_d.item(), "loss_generator": loss_g.item(), "gradient_penalty": penalty.item()}
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


def train(cfg: TrainConfig, overwrite: bool = False) -> TrainResult:
    """Train `cfg` (WGAN Alg. 1 / WGAN-GP Alg. 1); the run's files go to cfg.out_dir (`RunDir`).

    overwrite: start afresh even if out_dir holds a run (otherwise that is an error, unless
    cfg.resume, which continues it).
    """
    from tqdm.auto import tqdm

    from . import plots

    device = pick_device(cfg.device)
    with RunDir(cfg, overwrite) as run:
        torch.manual_seed(cfg.seed)
        generator, critic = build_models(cfg)
        generator.to(device)
        critic.to(device)
        opt_g = make_optimizer(cfg, generator.parameters(), cfg.lr_g)
        opt_d = make_optimizer(cfg, critic.parameters(), cfg.lr_d)
        stream = BatchStream(cfg, device)
        state = run.resume_state(device, RUNTIME_FIELDS)
        if state is not None:
            generator.load_state_dict(state["generator"])
            critic.load_state_dict(state["critic"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            stream.load_state_dict(state["stream"])
            torch.set_rng_state(state["rng_cpu"])
            if device.type == "cuda" and state.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(state["rng_cuda"], device)
        start = state["iteration"] if state is not None else 0
        run.start(start)
        noise = fixed_noise(cfg).to(device)
        toy_real = sample_toy(cfg.dataset, 1000, torch.Generator().manual_seed(cfg.seed)) if cfg.is_toy else None

        def diverged(what: str, it: int) -> TrainingDiverged:
            return TrainingDiverged(f"{what} at generator iteration {it}: training stopped; "
                                    f"last good checkpoint: {run.last_good()}")

        def checkpoint(done: int) -> None:
            # never write a poisoned checkpoint over the last good one: weights and optimiser state first
            bad = _first_non_finite(generator, critic, opt_g, opt_d)
            if bad is not None:
                raise diverged(f"{bad} is not finite", done - 1)
            run.save_checkpoint({
                "iteration": done, "config": cfg.to_dict(),
                "generator": generator.state_dict(), "critic": critic.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "stream": stream.state_dict(),
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            })

        def save_samples(done: int) -> None:
            with sampling(generator):  # batch statistics, as the official codes sample
                fake = generator(noise).cpu()
            path = run.sample_path(done)
            if cfg.is_toy:
                plots.save_toy_figure(path, toy_real, fake, critic, title=f"iteration {done}")
            else:
                plots.save_image_grid(path, fake)
            run.log_image(path)

        def noise_batch() -> torch.Tensor:
            return torch.randn(cfg.batch_size, cfg.noise_dim, device=device)

        bar = tqdm(range(start, cfg.iterations), initial=start, total=cfg.iterations, disable=not cfg.progress,
                   desc=f"{cfg.loss} {cfg.dataset}", dynamic_ncols=True, mininterval=2.0)
        t_start = time.perf_counter()
        try:
            for it in bar:
                t0 = time.perf_counter()
                generator.train()
                critic.train()
                # --- critic: n_critic steps (WGAN Alg. 1 lines 2-8; WGAN-GP Alg. 1 lines 2-10)
                critic.requires_grad_(True)
                n_steps = critic_steps_for(it, cfg.n_critic, cfg.critic_schedule)
                for _ in range(n_steps):
                    real = stream.next()
                    with torch.no_grad():
                        fake = generator(noise_batch())
                    f_real, f_fake = critic(real), critic(fake)
                    loss_d = objectives.critic_loss(cfg.loss, f_real, f_fake)
                    penalty, interp_norms = torch.zeros((), device=device), None
                    if cfg.gp_weight > 0:
                        penalty, interp_norms = objectives.gradient_penalty(
                            critic, real, fake, cfg.gp_weight, cfg.gp_one_sided)
                    total_d = loss_d + penalty
                    opt_d.zero_grad(set_to_none=True)
                    total_d.backward()
                    opt_d.step()
                    if cfg.clip_value is not None:
                        objectives.clip_weights(critic, cfg.clip_value)

                # --- generator: one step (WGAN Alg. 1 lines 9-10; WGAN-GP Alg. 1 lines 11-12)
                critic.requires_grad_(False)  # no critic gradients during the generator step
                fake = generator(noise_batch())
                loss_g = objectives.generator_loss(cfg.loss, critic(fake))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                done = it + 1
                # Values are read on logged iterations only: a read makes the host wait for the
                # device, so between logs the loop never does.
                logged = it % cfg.log_every == 0 or done == cfg.iterations
                if logged:
                    g_grad = _grad_norm(generator)
                    for name, value in (("critic loss", total_d), ("generator loss", loss_g)):
                        if not math.isfinite(value.item()):
                            raise diverged(f"{name} is {value.item()}", it)
                opt_g.step()
                critic.requires_grad_(True)

                if logged:
                    row = {"iteration": it, "critic_steps": n_steps, "generator_grad_norm": g_grad,
                           **_diagnostics(cfg, critic, real, fake, f_real, f_fake, loss_d, loss_g, penalty,
                                          interp_norms),
                           "seconds_per_iteration": time.perf_counter() - t0,
                           "wall_time": time.perf_counter() - t_start}
                    run.log(row)
                    bar.set_postfix(W=f"{row['wasserstein_estimate']:.4f}", refresh=False)
                if (cfg.sample_every and done % cfg.sample_every == 0) or done == cfg.iterations:
                    save_samples(done)
                if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == cfg.iterations:
                    checkpoint(done)
        finally:
            bar.close()
    # the full curve, including the part before a resumption
    return TrainResult(cfg, generator, critic, run.path, read_history(run.path))


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
        total = objectives.critic_loss(loss, forward(real), forward(fake))
        if gp_weight > 0 and loss == "wgan":
            total = total + objectives.gradient_penalty(forward, real, fake, gp_weight)[0]
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if clip_value is not None:
            objectives.clip_weights(critic, clip_value)
    with torch.no_grad():
        n = 20_000
        f_real, f_fake = forward(torch.randn(n, 1) + mu_real), forward(torch.randn(n, 1) + mu_fake)
        est = objectives.wasserstein_estimate(f_real, f_fake)
    return critic, est.item()
