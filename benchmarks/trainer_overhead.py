"""train() against a bare WGAN-GP loop with the same models, batches and optimisers.

The bare loop is Alg. 1 and nothing else: no logging, no checkpoints, no diagnostics. The
ratio is train()'s seconds per generator iteration over the bare loop's, at log_every 1 and 10.

    python benchmarks/trainer_overhead.py [--iterations 60] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from _machine import report
from wgan_repro import objectives
from wgan_repro.config import TrainConfig
from wgan_repro.stream import BatchStream
from wgan_repro.models import build_models
from wgan_repro.train import critic_steps_for, make_optimizer, train

CASES = {
    "toy 3x512 GP": dict(dataset="8gaussians", arch="toy", dim=512, gp_weight=0.1, d_norm="none", optimizer="adam",
                         lr_g=1e-4, lr_d=1e-4, batch_size=256),
    "MNIST gp-dcgan 16 GP": dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=16, gp_weight=10.0,
                                 d_norm="none", g_batchnorm=False, optimizer="adam", lr_g=1e-4, lr_d=1e-4,
                                 batch_size=50),
    "MNIST gp-dcgan 16 clip": dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=16, clip_value=0.01,
                                   d_norm="batch", optimizer="rmsprop", batch_size=50),
}


def bare_loop(cfg: TrainConfig) -> float:
    """Seconds per generator iteration of Alg. 1 alone."""
    torch.manual_seed(cfg.seed)
    g, d = build_models(cfg)
    opt_g, opt_d = make_optimizer(cfg, g.parameters(), cfg.lr_g), make_optimizer(cfg, d.parameters(), cfg.lr_d)
    stream = BatchStream(cfg, torch.device("cpu"))
    t0 = time.perf_counter()
    for it in range(cfg.iterations):
        d.requires_grad_(True)
        for _ in range(critic_steps_for(it, cfg.n_critic, cfg.critic_schedule)):
            real = stream.next()
            with torch.no_grad():
                fake = g(torch.randn(cfg.batch_size, cfg.noise_dim))
            loss = objectives.critic_loss(cfg.loss, d(real), d(fake))
            if cfg.gp_weight > 0:
                loss = loss + objectives.gradient_penalty(d, real, fake, cfg.gp_weight)[0]
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            if cfg.clip_value is not None:
                objectives.clip_weights(d, cfg.clip_value)
        d.requires_grad_(False)
        loss_g = objectives.generator_loss(cfg.loss, d(g(torch.randn(cfg.batch_size, cfg.noise_dim))))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    return (time.perf_counter() - t0) / cfg.iterations


def ours(cfg: TrainConfig) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg.out_dir = tmp
        result = train(cfg)
    return result.history[-1]["wall_time"] / cfg.iterations


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name, values in CASES.items():
        common = dict(values, iterations=args.iterations, sample_every=0, checkpoint_every=0, progress=False)
        bare = bare_loop(TrainConfig(**common, out_dir="-"))
        row = {"case": name, "bare_s_per_it": bare}
        for log_every in (1, 10):
            t = ours(TrainConfig(**common, log_every=log_every, dvclive=True, out_dir="-"))
            row[f"train_log{log_every}_s_per_it"] = t
            row[f"ratio_log{log_every}"] = t / bare
        rows.append(row)
    report("trainer_overhead", rows, f"{args.iterations} generator iterations, {args.threads} thread(s); "
           "ratio = train() / bare Alg. 1 loop (DVCLive on, no checkpoints)")


if __name__ == "__main__":
    main()
