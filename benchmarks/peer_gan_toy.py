"""Ours against a peer: caogang/wgan-gp `gan_toy.py` (a PyTorch port of the WGAN-GP toy code),
re-written here for current PyTorch with its structure kept: N(0, 0.02) init, three backward
passes per critic step (real, fake, penalty), batches built point by point in NumPy.

Same settings for both (8 Gaussians, 3 x DIM ReLU MLPs, lambda 0.1, Adam 1e-4 (0.5, 0.9), batch 256,
5 critic steps), one thread, >= 3 seeds: generator iterations per second and modes covered (of 8)
after equal iterations.

    python benchmarks/peer_gan_toy.py [--iterations 1500] [--dim 128] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time

import numpy as np
import torch
from torch import nn

from _machine import report
from wgan_repro.presets import load_config
from wgan_repro.metrics import mode_coverage, sample_generator
from wgan_repro.pipeline import REPO
from wgan_repro.train import train


def peer(iterations: int, dim: int, seed: int) -> tuple[float, nn.Module]:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)

    def mlp(n_in, n_out):
        return nn.Sequential(nn.Linear(n_in, dim), nn.ReLU(True), nn.Linear(dim, dim), nn.ReLU(True),
                             nn.Linear(dim, dim), nn.ReLU(True), nn.Linear(dim, n_out))

    net_g, net_d = mlp(2, 2), mlp(2, 1)
    for m in [*net_g.modules(), *net_d.modules()]:
        if isinstance(m, nn.Linear):
            m.weight.data.normal_(0.0, 0.02)
            m.bias.data.fill_(0)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=1e-4, betas=(0.5, 0.9))
    s = 1 / np.sqrt(2)
    centers = [(2 * x, 2 * y) for x, y in [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]]

    def batch():
        points = []
        for _ in range(256):
            p = np.random.randn(2) * 0.02
            c = random.choice(centers)
            points.append((p[0] + c[0], p[1] + c[1]))
        return torch.tensor(np.array(points, dtype="float32") / 1.414)

    t0 = time.perf_counter()
    for _ in range(iterations):
        for p in net_d.parameters():
            p.requires_grad = True
        for _ in range(5):
            real = batch()
            net_d.zero_grad()
            (-net_d(real).mean()).backward()
            with torch.no_grad():
                fake = net_g(torch.randn(256, 2))
            net_d(fake).mean().backward()
            alpha = torch.rand(256, 1).expand(real.size())
            interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            grads = torch.autograd.grad(net_d(interp).sum(), interp, create_graph=True)[0]
            (((grads.norm(2, dim=1) - 1) ** 2).mean() * 0.1).backward()
            opt_d.step()
        for p in net_d.parameters():
            p.requires_grad = False
        net_g.zero_grad()
        (-net_d(net_g(torch.randn(256, 2))).mean()).backward()
        opt_g.step()
    seconds = time.perf_counter() - t0
    net_g.z_dim = 2
    return iterations / seconds, net_g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        peer_its, peer_g = peer(args.iterations, args.dim, seed)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config(REPO / "configs" / "toy_8gaussians_wgan_gp.yaml",
                              dict(dim=args.dim, iterations=args.iterations, seed=seed, out_dir=tmp, progress=False,
                                   sample_every=0, checkpoint_every=0, dvclive=False))
            t0 = time.perf_counter()
            ours = train(cfg)
            ours_its = args.iterations / (time.perf_counter() - t0)

        def modes(g):
            return mode_coverage(sample_generator(g, 2500, seed=1000 + seed), "8gaussians").modes_covered

        rows.append({"seed": seed, "ours_it_per_s": ours_its, "peer_it_per_s": peer_its,
                     "speed_ratio_ours_over_peer": ours_its / peer_its,
                     "ours_modes_of_8": modes(ours.generator), "peer_modes_of_8": modes(peer_g)})
    report("peer_gan_toy", rows, f"8 Gaussians, dim {args.dim}, {args.iterations} generator iterations, 1 thread; "
           "ours = wgan_repro.train (log_every 10, no checkpoints), peer = caogang/wgan-gp gan_toy.py structure")


if __name__ == "__main__":
    main()
