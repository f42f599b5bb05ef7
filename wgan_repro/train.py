"""One training loop for every variant: GAN, WGAN (clipping), WGAN-GP.

WGAN Alg. 1 / WGAN-GP Alg. 1: for each generator iteration, `critic_steps_for(...)` critic
steps on fresh real and generated batches (clipping after each, or the penalty inside the
loss), then one generator step. Everything random comes from torch's global RNG seeded with
`cfg.seed`; its state, the optimisers and the data position are checkpointed, so a killed
and resumed run continues the very same curve.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import objectives
from .config import TrainConfig
from .data import BatchStream, atomic_save, sample_toy
from .models import build_models, sampling

# Fields that may differ between a run and its resumption.
RUNTIME_FIELDS = {"resume", "overwrite", "iterations", "progress", "out_dir", "sample_every",
                  "checkpoint_every", "log_every", "dvclive", "device", "keep_checkpoints"}


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class RunExistsError(FileExistsError):
    """out_dir already holds a run and neither resume nor overwrite was asked for."""


def critic_steps_for(generator_iteration: int, n_critic: int, schedule: str = "constant") -> int:
    """Critic steps before generator iteration `generator_iteration` (0-based).

    'wgan': the WGAN reference code trains the critic 100 times for the first 25 generator
    iterations and every 500th, so the critic is near-optimal when its W estimate is read.
    """
    if schedule == "wgan" and (generator_iteration < 25 or generator_iteration % 500 == 0):
        return 100
    return n_critic


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' is not allowed here: no CUDA device is visible (use 'auto' or 'cpu')")
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


class _Checkpoints:
    def __init__(self, out_dir: Path, keep: bool):
        self.dir, self.keep = out_dir / "checkpoints", keep
        self.last = self.dir / "last.pt"

    def save(self, state: dict) -> None:
        atomic_save(state, self.last)
        if self.keep:
            atomic_save(state, self.dir / f"ckpt_{state['iteration']:06d}.pt")

    def load(self, device: torch.device) -> dict | None:
        return torch.load(self.last, map_location=device, weights_only=False) if self.last.is_file() else None


def load_generator(checkpoint: str | Path, device: str = "cpu") -> tuple[nn.Module, TrainConfig]:
    """The generator (eval mode) and config stored in a checkpoint file."""
    state = torch.load(checkpoint, map_location=device, weights_only=False)
    cfg = TrainConfig(**{**state["config"], "progress": False})
    g, _ = build_models(cfg)
    g.load_state_dict(state["generator"])
    return g.to(device).eval(), cfg


def _truncate_logs(out_dir: Path, start: int) -> None:
    """Drop log rows from iterations >= start (written after the checkpoint we resume from)."""
    hist = out_dir / "history.jsonl"
    if hist.is_file():
        rows = [r for r in hist.read_text().splitlines() if r and json.loads(r)["iteration"] < start]
        hist.write_text("".join(r + "\n" for r in rows))
    for tsv in (out_dir / "dvclive" / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        kept = [lines[0]] + [ln for ln in lines[1:] if int(ln.split("\t")[0]) < start]
        tsv.write_text("\n".join(kept) + "\n")
    metrics = out_dir / "dvclive" / "metrics.json"
    if metrics.is_file():
        data = json.loads(metrics.read_text())
        data["step"] = max(start - 1, 0)
        metrics.write_text(json.dumps(data))


def _open_live(out_dir: Path, resume: bool):
    from dvclive import Live

    return Live(dir=str(out_dir / "dvclive"), resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)


def fixed_noise(cfg: TrainConfig, n: int = 64) -> torch.Tensor:
    """The same noise for every sample figure of a run (its own RNG: does not disturb training)."""
    return torch.randn(n, cfg.noise_dim, generator=torch.Generator().manual_seed(cfg.seed + 10_007))


def train(cfg: TrainConfig, overwrite: bool = False) -> TrainResult:
    """Train `cfg`; write checkpoints, history.jsonl, DVCLive logs and samples under cfg.out_dir.

    overwrite: start afresh even if out_dir holds a run (otherwise that is an error, unless
    cfg.resume, which continues it).
    """
    from tqdm.auto import tqdm

    from . import plots

    device = pick_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    ckpts = _Checkpoints(out_dir, cfg.keep_checkpoints)
    if ckpts.last.is_file() and not (cfg.resume or overwrite):
        raise RunExistsError(f"out_dir={str(out_dir)!r} is not allowed: it already holds a run "
                             f"(resume=true continues it, another out_dir keeps it)")
    torch.manual_seed(cfg.seed)
    generator, critic = build_models(cfg)
    generator.to(device)
    critic.to(device)
    opt_g = make_optimizer(cfg, generator.parameters(), cfg.lr_g)
    opt_d = make_optimizer(cfg, critic.parameters(), cfg.lr_d)
    stream = BatchStream(cfg, device)

    start = 0
    state = ckpts.load(device) if cfg.resume else None
    if state is not None:
        saved = state["config"]
        for key, value in cfg.to_dict().items():
            if key not in RUNTIME_FIELDS and saved.get(key) != value:
                raise ValueError(f"{key}={value!r} is not allowed on resume: the checkpoint was "
                                 f"trained with {key}={saved.get(key)!r}")
        generator.load_state_dict(state["generator"])
        critic.load_state_dict(state["critic"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        stream.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"])
        start = state["iteration"]
    elif out_dir.exists():
        for stale in [out_dir / "history.jsonl", ckpts.last]:
            stale.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    _truncate_logs(out_dir, start)
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    live = _open_live(out_dir, resume=start > 0) if cfg.dvclive else None
    history_file = (out_dir / "history.jsonl").open("a")
    noise = fixed_noise(cfg).to(device)
    toy_real = sample_toy(cfg.dataset, 1000, torch.Generator().manual_seed(cfg.seed)) if cfg.is_toy else None

    def checkpoint(done: int) -> None:
        # never write a poisoned checkpoint over the last good one: weights and optimiser state first
        bad = _first_non_finite(generator, critic, opt_g, opt_d)
        if bad is not None:
            raise diverged(f"{bad} is not finite", done - 1)
        ckpts.save({
            "iteration": done, "config": cfg.to_dict(),
            "generator": generator.state_dict(), "critic": critic.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "stream": stream.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None,
        })

    def save_samples(done: int) -> None:
        with sampling(generator):  # batch statistics, as the official codes sample
            fake = generator(noise).cpu()
        path = out_dir / "samples" / f"iter_{done:06d}.png"
        if cfg.is_toy:
            plots.save_toy_figure(path, toy_real, fake, critic, title=f"iteration {done}")
        else:
            plots.save_image_grid(path, fake)
        if live is not None:
            live.log_image(f"samples/iter_{done:06d}.png", path)

    def diverged(what: str, it: int) -> TrainingDiverged:
        where = f"{ckpts.last} (iteration {torch.load(ckpts.last, weights_only=False)['iteration']})" \
            if ckpts.last.is_file() else "none written yet"
        return TrainingDiverged(f"{what} at generator iteration {it}: training stopped; "
                                f"last good checkpoint: {where}")

    result = TrainResult(cfg, generator, critic, out_dir)
    bar = tqdm(range(start, cfg.iterations), initial=start, total=cfg.iterations, disable=not cfg.progress,
               desc=f"{cfg.loss} {cfg.dataset}", dynamic_ncols=True, mininterval=2.0)
    t_start = time.perf_counter()
    try:
        for it in bar:
            t0 = time.perf_counter()
            generator.train()
            critic.train()
            n_steps = critic_steps_for(it, cfg.n_critic, cfg.critic_schedule)
            for p in critic.parameters():
                p.requires_grad_(True)
            for _ in range(n_steps):
                real = stream.next()
                with torch.no_grad():
                    fake = generator(torch.randn(cfg.batch_size, cfg.noise_dim, device=device))
                f_real, f_fake = critic(real), critic(fake)
                loss_d = objectives.critic_loss(cfg.loss, f_real, f_fake)
                penalty = torch.zeros((), device=device)
                interp_norms = None
                if cfg.gp_weight > 0:
                    penalty, interp_norms = objectives.gradient_penalty(
                        critic, real, fake, cfg.gp_weight, cfg.gp_one_sided)
                total_d = loss_d + penalty
                opt_d.zero_grad(set_to_none=True)
                total_d.backward()
                opt_d.step()
                if cfg.clip_value is not None:
                    objectives.clip_weights(critic, cfg.clip_value)

            for p in critic.parameters():  # no critic gradients during the generator step
                p.requires_grad_(False)
            fake = generator(torch.randn(cfg.batch_size, cfg.noise_dim, device=device))
            loss_g = objectives.generator_loss(cfg.loss, critic(fake))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            done = it + 1
            # Finiteness and diagnostics are read on logged iterations only: reading a value
            # makes the host wait for the device, so between logs the loop never does.
            logged = it % cfg.log_every == 0 or done == cfg.iterations
            if logged:
                g_grad = _grad_norm(generator)
                for name, value in (("critic loss", total_d), ("generator loss", loss_g)):
                    if not math.isfinite(value.item()):
                        raise diverged(f"{name} is {value.item()}", it)
            opt_g.step()
            for p in critic.parameters():
                p.requires_grad_(True)

            if logged:
                row = {"iteration": it, "critic_steps": n_steps,
                       "wasserstein_estimate": objectives.wasserstein_estimate(f_real, f_fake).item(),
                       "loss_critic": loss_d.item(), "loss_generator": loss_g.item(),
                       "gradient_penalty": penalty.item(), "generator_grad_norm": g_grad}
                if cfg.loss != "wgan":
                    # at the optimal D, -loss_D = 2 JS - log 4  (Goodfellow et al. 2014, Thm. 1)
                    row["js_estimate"] = math.log(2) - loss_d.item() / 2
                k = min(64, cfg.batch_size)
                row["critic_grad_norm_real"] = float(objectives.input_gradient_norms(critic, real[:k]).mean())
                row["critic_grad_norm_fake"] = float(objectives.input_gradient_norms(critic, fake[:k]).mean())
                row["critic_grad_norm_interp"] = float(
                    interp_norms.mean() if interp_norms is not None else
                    objectives.input_gradient_norms(critic, objectives.interpolate(real[:k], fake[:k])).mean())
                row.update(_weight_stats(critic, cfg.clip_value))
                row["seconds_per_iteration"] = time.perf_counter() - t0
                row["wall_time"] = time.perf_counter() - t_start
                result.history.append(row)
                history_file.write(json.dumps(row) + "\n")
                history_file.flush()
                if live is not None:
                    live.step = it
                    for key, value in row.items():
                        if key != "iteration":
                            live.log_metric(key, value)
                    live.next_step()
                bar.set_postfix(W=f"{row['wasserstein_estimate']:.4f}", refresh=False)

            if (cfg.sample_every and done % cfg.sample_every == 0) or done == cfg.iterations:
                save_samples(done)
            if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == cfg.iterations:
                checkpoint(done)
    finally:
        bar.close()
        history_file.close()
        if live is not None:
            live.end()
    if start > 0:  # the full curve, including the part before the resumption
        result.history = read_history(out_dir)
    return result


def read_history(out_dir: str | Path) -> list[dict]:
    """Rows of history.jsonl (one per logged generator iteration)."""
    path = Path(out_dir) / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


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
