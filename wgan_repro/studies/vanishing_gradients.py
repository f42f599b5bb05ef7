"""Arjovsky & Bottou 2017, Fig. 2, restated in WGAN §1 (notebook 06): as the discriminator approaches
optimality, the minimax generator's gradient vanishes.

gan_mnist.py's standard GAN (configs/mnist_gan.yaml) with the minimax generator loss is pre-trained through
the grid; then its discriminator trains alone and the generator's gradient norm is read after each number of
discriminator steps (`probes.gan_generator_gradient_vs_discriminator_steps`).
"""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from .. import claims as C, experiments as E, probes
from ..grid import run_grid
from ..presets import load_preset

VANISHED = 0.1
RULE = (f"reproduced when the minimax gradient norm after the most D steps is < {VANISHED:.0%} of its value before "
        "(every seed)")


def run(dataset: str, dim: int, pretrain_iterations: int, d_steps: list[int], seeds: list[int], out_dir=None,
        runs_dir=None, results_root: str = "results", profile: str = "quick") -> SimpleNamespace:
    """Pre-train one GAN per seed, then the generator's gradient norms after `d_steps` discriminator steps."""
    out_dir, runs_dir, save = E.setup(out_dir, runs_dir, "06_vanishing_gradients")
    pretrain = load_preset("mnist_gan", dataset=dataset, dim=dim, loss="gan", iterations=pretrain_iterations,
                        sample_every=0, checkpoint_every=0)
    trained = run_grid({}, {"GAN": pretrain}, seeds, runs_dir)
    rows = []
    for seed in seeds:
        run = trained[("GAN", seed)]
        for r in probes.gan_generator_gradient_vs_discriminator_steps(run.generator, run.cfg, d_steps, seed=seed):
            rows.append(dict(seed=seed, **r))
    table = pd.DataFrame(rows)
    table.to_csv(out_dir / "curves.csv", index=False)
    return SimpleNamespace(dim=dim, pretrain_iterations=pretrain_iterations, d_steps=d_steps, seeds=seeds,
                           profile=profile, out_dir=out_dir, save=save, table=table)


def figure(s: SimpleNamespace) -> pd.DataFrame:
    """Both generator losses' gradient norms against discriminator steps; returns the per-step summary."""
    table, d_steps = s.table, s.d_steps
    long = table.melt(id_vars=["seed", "discriminator_steps"],
                      value_vars=["generator_grad_norm_minimax", "generator_grad_norm_non_saturating"],
                      var_name="generator loss", value_name="gradient norm")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=long, x="discriminator_steps", y="gradient norm", hue="generator loss", marker="o",
                 errorbar="sd", ax=ax)
    ax.set_yscale("log")
    ax.set_title("generator gradient vs discriminator training (Arjovsky & Bottou Fig. 2)")
    s.save(fig, "generator_gradient.png")
    first = table[table.discriminator_steps == min(d_steps)]
    last = table[table.discriminator_steps == max(d_steps)]
    display(Markdown(
        "**What the figure shows.** As the discriminator (trained from scratch) gets better, the minimax generator "
        f"gradient goes from {first.generator_grad_norm_minimax.mean():.2e} to "
        f"{last.generator_grad_norm_minimax.mean():.2e} (mean over {len(s.seeds)} seeds, log scale), the "
        f"non-saturating one from {first.generator_grad_norm_non_saturating.mean():.2e} to "
        f"{last.generator_grad_norm_non_saturating.mean():.2e}. The paper's Fig. 2: the minimax gradient vanishes as "
        "D trains, the non-saturating one does not."))
    return table.groupby("discriminator_steps")[["discriminator_loss", "generator_grad_norm_minimax",
                                                 "generator_grad_norm_non_saturating"]].agg(["mean", "std"])


def vanishing_claim(ratio: np.ndarray, ns_ratio: np.ndarray, d_max: int) -> dict:
    """The claim from per-seed ratios (gradient norm after the most D steps / before): `RULE`."""
    result = C.REPRODUCED if (ratio < VANISHED).all() else (C.NOT_REPRODUCED if (ratio >= 1).all() else C.UNRESOLVED)
    return C.claim("Minimax generator gradient vanishes as D improves", "gradient → 0 as D → D*",
                   f"‖∇‖ ratio after {d_max} D steps: minimax {ratio.mean():.2e}±{C.sd(ratio):.1e}, non-saturating "
                   f"{ns_ratio.mean():.2e} (n = {len(ratio)} seeds)", result, RULE,
                   item="Arjovsky & Bottou 2017, Fig. 2", id="06.minimax_gradient_vanishes")


def report(s: SimpleNamespace) -> None:
    """The claim, metrics.json / details.json, the verdict."""
    table, d_steps = s.table, s.d_steps
    first = table[table.discriminator_steps == min(d_steps)]
    last = table[table.discriminator_steps == max(d_steps)]
    ratio = last.generator_grad_norm_minimax.values / first.generator_grad_norm_minimax.values
    ns_ratio = last.generator_grad_norm_non_saturating.values / first.generator_grad_norm_non_saturating.values
    claims = C.settle_with([vanishing_claim(ratio, ns_ratio, max(d_steps))],
                           "the paper's scale: up to 4,000 discriminator steps against a generator trained 1-25 epochs "
                           "(the paper profile runs 4,000 steps after 1,000 iterations); not measured here")
    metrics = {"profile": s.profile, "seeds": s.seeds,
               "minimax_grad_ratio": {"mean": ratio.mean(), "std": C.sd(ratio), "n": len(ratio),
                                      "values": ratio.tolist()},
               "non_saturating_grad_ratio": {"mean": ns_ratio.mean(), "std": C.sd(ns_ratio)},
               "final_discriminator_loss": {"mean": last.discriminator_loss.mean(),
                                            "std": C.sd(last.discriminator_loss)}, "claims": claims}
    C.write_metrics(s.out_dir, metrics, {**C.mean_std(ratio, "minimax_grad_ratio", digits=6),
                                         **C.mean_std(ns_ratio, "ns_grad_ratio", digits=4)})
    display(Markdown(C.scale_note(s.profile, f"MNIST 28 px, DIM {s.dim}, G pre-trained {s.pretrain_iterations} "
                                  f"iterations, up to {max(d_steps)} D steps, {len(s.seeds)} seeds",
                                  "a DCGAN on LSUN trained 1, 10 and 25 epochs, then D alone for up to 4,000 steps "
                                  "(Arjovsky & Bottou Fig. 2)")
                     + "\n\n" + "\n".join(f"- **{c['claim']}** — paper: {c['paper']}; ours: {c['ours']} → "
                                          f"**{c['verdict']}** ({c['rule']})" for c in claims)))


__all__ = ["RULE", "VANISHED", "figure", "report", "run", "vanishing_claim"]
