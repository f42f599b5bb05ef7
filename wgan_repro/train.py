"""One training loop for every variant: GAN, WGAN (clipping), WGAN-GP.

WGAN Alg. 1 / WGAN-GP Alg. 1: for each generator iteration, `critic_steps_for(...)` critic
steps on fresh real and generated batches (clipping after each, or the penalty inside the
loss), then one generator step. The weights are initialised from torch's global RNG seeded with
`cfg.seed`; every later random number of the run comes from its own generator, which continues
from that state (on CUDA: a CUDA generator seeded with `cfg.seed`), so K runs can share one
process (`train_many`) and each still draws exactly what it would alone. That generator's state,
the optimisers and the data position are checkpointed: a killed and resumed run continues the
very same curve.

The iteration is graph-ready: no host-to-device copy, no host read and no change of
`requires_grad` between logged iterations; gradients live in persistent buffers. On CUDA
(`graphs='auto'`) one critic step and one generator step are captured as CUDA graphs after a
few eager iterations and replayed; on the CPU the same code runs eagerly.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time

import torch
from torch import nn

from . import objectives
from .config import ConfigError, TrainConfig, WganReproError
from .device import available_memory, cpu_threads, resolve_device
from .cudagraphs import CapturedSteps, run_generator, uses_graphs
from .diagnostics import diagnostics, first_non_finite, grad_norm, heldout_estimate
from .stream import BatchStream
from .toy import sample_toy
from .models import build_models, sampling
from .rundir import RunDir, TrainResult, code_hash, read_history


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
    """A generous estimate of the bytes one training step needs: both models' parameters with their gradients
    and optimiser moments (counted on the meta device: nothing allocated), and every layer's activations for a
    batch (width x positions), kept for the backward pass and, with the penalty, its double backward."""
    with torch.device("meta"):
        n_params = sum(p.numel() for m in build_models(cfg) for p in m.parameters())
    positions = 1 if cfg.is_toy else cfg.image_size ** 2
    passes = 6 if cfg.gp_weight > 0 else 3
    activations = cfg.batch_size * max(cfg.dim, cfg.generator_dim) * positions * (4 if cfg.is_toy else 8) * passes
    return 4 * (n_params * (4 if cfg.optimizer == "adam" else 3) + activations)


def check_memory(cfg: TrainConfig, device: torch.device) -> None:
    """Refuse, before anything is written, a run whose step cannot fit in the device's memory."""
    need, have = estimated_memory(cfg), available_memory(device)
    if have and need > have:
        raise ConfigError(f"dim={cfg.dim} with batch_size={cfg.batch_size} is not allowed here: its models and a "
                          f"step need about {need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB is available ({device})")


def make_optimizer(cfg: TrainConfig, params, lr: float, capturable: bool = False) -> torch.optim.Optimizer:
    """RMSProp (WGAN) or Adam (WGAN-GP); capturable (CUDA): its step counts live on the device, so a
    CUDA graph can replay the step."""
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, capturable=capturable)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), capturable=capturable)


def fixed_noise(cfg: TrainConfig, n: int = 64) -> torch.Tensor:
    """The same noise for every sample figure of a run (its own RNG: does not disturb training)."""
    return torch.randn(n, cfg.noise_dim, generator=torch.Generator().manual_seed(cfg.seed + 10_007))


class _Run:
    """One run in training: its networks, optimisers, data stream and random generator, stepping one
    generator iteration at a time (`train` drives one run, `train_many` K runs in one process)."""

    WARMUP = 3  # eager generator iterations before capture (lazy allocations, optimiser state, cuDNN plans)

    def __init__(self, cfg: TrainConfig, run: RunDir, device: torch.device):
        self.cfg, self.run, self.device = cfg, run, device
        torch.manual_seed(cfg.seed)  # the weights' initialisation: the global RNG, as both official codes
        self.generator, self.critic = (m.to(device) for m in build_models(cfg))
        self.rng = run_generator(cfg, device)
        cuda = device.type == "cuda"
        self.opt_g = make_optimizer(cfg, self.generator.parameters(), cfg.lr_g, capturable=cuda)
        self.opt_d = make_optimizer(cfg, self.critic.parameters(), cfg.lr_d, capturable=cuda)
        self.g_params = list(self.generator.parameters())
        self.stream = BatchStream(cfg, device, generator=self.rng)
        self.cuda_stream = torch.cuda.Stream(device) if cuda else None
        self.graphs = None  # cudagraphs.CapturedSteps once captured
        self._clock_restored = 0.0
        self.start = self.it = self.restore(run.resume_state(device))
        self.clock = 0.0  # training seconds before this process (a resumed run's clock continues)
        self.noise_fixed = fixed_noise(cfg).to(device)
        self.toy_real = sample_toy(cfg.dataset, 1000, torch.Generator().manual_seed(cfg.seed)) if cfg.is_toy else None
        self.last: tuple | None = None  # (real, fake, CriticStep, loss_g, n_steps) of the latest iteration

    # ------------------------------------------------------------------ state
    def restore(self, state: dict | None) -> int:
        """Load a checkpoint's state (RNG included); the generator iteration to continue from."""
        if state is None:
            return 0
        self.generator.load_state_dict(state["generator"])
        self.critic.load_state_dict(state["critic"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.stream.load_state_dict(state["stream"])
        if self.device.type == "cpu":
            self.rng.set_state(state["rng_cpu"].cpu())  # the checkpoint may be mapped onto the GPU
        else:
            torch.set_rng_state(state["rng_cpu"].cpu())
            if state.get("rng_cuda") is not None:
                self.rng.set_state(state["rng_cuda"].cpu())
        self._clock_restored = float(state.get("wall_time") or _last_wall_time(self.run, state["iteration"]))
        return state["iteration"]

    def state(self, done: int) -> dict:
        cuda = self.device.type == "cuda"
        return {"iteration": done, "config": self.cfg.to_dict(),
                "generator": self.generator.state_dict(), "critic": self.critic.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "stream": self.stream.state_dict(),
                "rng_cpu": torch.get_rng_state() if cuda else self.rng.get_state(),
                "rng_cuda": self.rng.get_state() if cuda else None, "wall_time": self.wall_time(),
                "code": code_hash()}

    def wall_time(self) -> float:
        """Seconds this run has trained, over every process that trained it."""
        return self.clock + (time.perf_counter() - self.t_start)

    @property
    def done(self) -> bool:
        return self.it >= self.cfg.iterations

    # ------------------------------------------------------------------ one step each
    def noise(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch_size, self.cfg.noise_dim, device=self.device, generator=self.rng)

    def _autocast(self):
        bf16 = self.cfg.precision == "bf16"
        return torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def _critic_fn(self):
        if self.cfg.precision == "bf16":  # convolutions in bf16; scores, losses and the penalty's norm in fp32
            return lambda x: self.critic(x).float()
        return self.critic

    def critic_body(self, real: torch.Tensor) -> tuple:
        """One critic step on `real` (WGAN Alg. 1 lines 3-7; WGAN-GP Alg. 1 lines 3-9)."""
        cfg = self.cfg
        with torch.no_grad(), self._autocast():
            fake = self.generator(self.noise()).float()
        with self._autocast():
            step = objectives.critic_step(self._critic_fn(), self.opt_d, real, fake, cfg.loss, cfg.gp_weight,
                                          cfg.gp_one_sided, cfg.clip_value, module=self.critic, generator=self.rng)
        return real, fake, step

    def generator_body(self) -> tuple:
        """The generator's loss and gradient (WGAN Alg. 1 line 10; WGAN-GP Alg. 1 line 12): gradients
        for the generator's parameters only, the critic's left as they are (no requires_grad toggle)."""
        with self._autocast():
            fake = self.generator(self.noise()).float()
            loss_g = objectives.generator_loss(self.cfg.loss, self._critic_fn()(fake))
        self.opt_g.zero_grad(set_to_none=False)
        loss_g.backward(inputs=self.g_params)
        return fake, loss_g

    # ------------------------------------------------------------------ one generator iteration
    def iteration(self) -> None:
        """Train generator iteration `self.it`, log it when due, save samples and checkpoints when due."""
        cfg, run, it = self.cfg, self.run, self.it
        t0 = time.perf_counter()
        with torch.cuda.stream(self.cuda_stream) if self.cuda_stream is not None else contextlib.nullcontext():
            self.generator.train()
            self.critic.train()
            if self.graphs is None and uses_graphs(cfg, self.device) and it - self.start >= self.WARMUP \
                    and self.stream.graph_ready:
                self.graphs = CapturedSteps(self)
            n_steps = critic_steps_for(it, cfg.n_critic, cfg.critic_schedule)
            done = it + 1
            logged = it % cfg.log_every == 0 or done == cfg.iterations
            if self.graphs is not None:
                real, fake, step, loss_g = self.graphs.iteration(n_steps)
                g_grad = _finite_grad_norm(run, self.generator, step, loss_g, it) if logged else None
            else:
                for _ in range(n_steps):
                    real, fake, step = self.critic_body(self.stream.next())
                fake, loss_g = self.generator_body()
                # values are read on logged iterations only: a read makes the host wait for the device
                g_grad = _finite_grad_norm(run, self.generator, step, loss_g, it) if logged else None
                self.opt_g.step()
            if logged:
                row = {"iteration": it, "critic_steps": n_steps, "generator_grad_norm": g_grad,
                       **diagnostics(cfg, self.critic, real, fake, step, loss_g, self.rng),
                       **heldout_estimate(self, step),
                       "seconds_per_iteration": time.perf_counter() - t0, "wall_time": self.wall_time()}
                run.log(row)
                self.w_estimate = row["wasserstein_estimate"]
            if _due(cfg.sample_every, done, cfg.iterations):
                _save_samples(run, self, self.noise_fixed, self.toy_real, done)
            if _due(cfg.checkpoint_every, done, cfg.iterations) or run.stop_requested:
                _checkpoint(run, self, done)
                self.checkpointed = done
        self.it = done

    def begin(self) -> None:
        self.run.start(self.start)
        self.clock = self._clock_restored
        self.t_start = time.perf_counter()
        self.checkpointed = self.start
        self.w_estimate = None


def _last_wall_time(run: RunDir, iteration: int) -> float:
    """A checkpoint from before the clock was saved in it: the last logged wall_time before `iteration`."""
    rows = [r for r in read_history(run.path) if r["iteration"] < iteration and "wall_time" in r]
    return float(rows[-1]["wall_time"]) if rows else 0.0


def _checkpoint(run: RunDir, nets: _Run, done: int) -> None:
    # never write a poisoned checkpoint over the last good one: weights and optimiser state first
    bad = first_non_finite(nets.generator, nets.critic, nets.opt_g, nets.opt_d)
    if bad is not None:
        raise _diverged(run, f"{bad} is not finite", done - 1)
    run.save_checkpoint(nets.state(done))


def _diverged(run: RunDir, what: str, it: int) -> TrainingDiverged:
    return TrainingDiverged(f"{what} at generator iteration {it}: training stopped; "
                            f"last good checkpoint: {run.last_good()}")


def _save_samples(run: RunDir, nets: _Run, noise: torch.Tensor, toy_real, done: int) -> None:
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
    g_grad = grad_norm(generator)
    for name, value in (("critic loss", step.total), ("generator loss", loss_g)):
        if not math.isfinite(value.item()):
            raise _diverged(run, f"{name} is {value.item()}", it)
    return g_grad


def _due(every: int, done: int, last: int) -> bool:
    return bool(every and done % every == 0) or done == last


@contextlib.contextmanager
def _deferred_stop(runs: list[RunDir]):
    """SIGINT and SIGTERM only set every run's `stop_requested` inside the block: each run finishes
    its iteration and checkpoints, then `_stop_if_requested` stops them all (resume=true continues)."""
    for r in runs:
        r.stop_requested = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request(signum, frame):
        for r in runs:
            r.stop_requested = signum

    old = {s: signal.signal(s, request) for s in (signal.SIGINT, signal.SIGTERM)}
    for r in runs:  # who handled SIGTERM before: the CLI's handler turns it into a one-line stop (exit 130)
        r.sigterm_before = old[signal.SIGTERM]
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _stop_if_requested(runs: list[_Run]) -> None:
    signum = runs[0].run.stop_requested
    if signum is None:
        return
    for r in runs:  # a run that had not yet reached the end of its iteration when the signal came
        if not r.done and r.checkpointed != r.it:
            _checkpoint(r.run, r, r.it)
    for r in runs:
        print(f"wgan-repro: {signal.Signals(signum).name} at generator iteration {r.it}: checkpoint saved "
              f"({r.run.last}); resume=true continues from there", file=sys.stderr)
    if signum == signal.SIGTERM and not getattr(getattr(runs[0].run, "sigterm_before", None), "one_line", False):
        # not the CLI (whose handler stops with one line, exit 130): terminate as asked, now that the state is safe
        for r in runs:
            r.run.__exit__(None, None, None)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    raise KeyboardInterrupt(f"stopped at generator iteration {runs[0].it}")


def train(cfg: TrainConfig, overwrite: bool = False) -> TrainResult:
    """Train `cfg` (WGAN Alg. 1 / WGAN-GP Alg. 1); the run's files go to cfg.out_dir (`RunDir`).

    overwrite: start afresh even if out_dir holds a run (otherwise that is an error, unless
    cfg.resume, which continues it).
    """
    return train_many([cfg], overwrite)[0]


def train_many(cfgs: list[TrainConfig], overwrite: bool = False) -> list[TrainResult]:
    """Train K runs in one process, one generator iteration of each in turn (on CUDA each on its own
    stream, so K runs overlap on one GPU instead of time-slicing K processes). Every run draws only
    from its own generator: each gives exactly the numbers it gives alone (`train`)."""
    from tqdm.auto import tqdm

    if len({c.out_dir for c in cfgs}) != len(cfgs):
        raise ConfigError("out_dir is not allowed: two runs of one train_many call share a folder")
    devices = [resolve_device(c.device) for c in cfgs]
    for cfg, device in zip(cfgs, devices):
        if cfg.precision == "bf16" and device.type != "cuda":
            raise ConfigError(f"precision='bf16' is not allowed on {device}: bf16 autocast is a CUDA option "
                              f"(use precision='tf32', the default)")
        check_memory(cfg, device)
    with contextlib.ExitStack() as stack:
        if devices[0].type == "cpu" and cfgs[0].threads:  # one thread per CPU run unless asked (`threads`)
            stack.enter_context(cpu_threads(cfgs[0].threads))
        dirs = [stack.enter_context(RunDir(c, overwrite)) for c in cfgs]
        runs = [_Run(c, d, device) for c, d, device in zip(cfgs, dirs, devices)]
        for r in runs:
            r.begin()
        first = cfgs[0]
        name = f"{first.loss} {first.dataset}" if len(cfgs) == 1 else f"{len(cfgs)} runs"
        bar = stack.enter_context(tqdm(
            total=sum(c.iterations for c in cfgs), initial=sum(r.start for r in runs), disable=not first.progress,
            desc=f"{name} ({devices[0].type})", dynamic_ncols=True, mininterval=2.0))
        stack.enter_context(_deferred_stop(dirs))  # SIGINT/SIGTERM: finish the iteration, checkpoint, stop
        active = [r for r in runs if not r.done]
        while active:
            for r in active:
                r.iteration()
                bar.update()
                if r.w_estimate is not None:
                    bar.set_postfix(W=f"{r.w_estimate:.4f}", refresh=False)
                if r.run.stop_requested:
                    break
            _stop_if_requested(active)
            active = [r for r in active if not r.done]
    # the full curves, including the part before a resumption
    return [TrainResult(r.cfg, r.generator, r.critic, r.run.path, read_history(r.run.path)) for r in runs]
