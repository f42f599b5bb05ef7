"""WGAN-GP §5.6, Fig. 5b (notebook 07): the critic's loss shows overfitting on a small training set.

Two arms of gan_mnist.py's WGAN-GP (configs/mnist_wgan_gp.yaml): trained on `small` digits and on all of
them, both scoring the same `heldout` digits that neither trains on. The measure is the gap between the
critic's W estimate on its training batch and on held-out digits, over the last quarter of training.
"""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from .. import claims as C, experiments as E
from ..grid import run_grid
from ..presets import load_preset


def run(dataset: str, image_size: int, dim: int, iterations: int, small: int, heldout: int, seeds: list[int],
        log_every: int, out_dir=None, runs_dir=None, results_root: str = "results",
        profile: str = "quick") -> SimpleNamespace:
    """Train both arms x seeds; the per-run curves with the gap (training - held out) written to curves.csv."""
    out_dir, runs_dir, save = E.setup(out_dir, runs_dir, "07_overfitting")
    scale = dict(dataset=dataset, image_size=image_size, dim=dim, iterations=iterations, log_every=log_every,
                 sample_every=0, checkpoint_every=0, heldout_size=heldout)
    variants = {f"{small:,} digits": load_preset("mnist_wgan_gp", **scale, train_size=small),
                "all digits": load_preset("mnist_wgan_gp", **scale)}
    trained = run_grid({}, variants, seeds, runs_dir)
    curves = E.histories_frame(trained)
    curves["gap"] = curves.wasserstein_estimate - curves.wasserstein_estimate_heldout
    curves[["variant", "seed", "iteration", "wasserstein_estimate", "wasserstein_estimate_heldout", "gap"]].to_csv(
        out_dir / "curves.csv", index=False)
    return SimpleNamespace(dim=dim, iterations=iterations, small=small, heldout=heldout, seeds=seeds,
                           profile=profile, out_dir=out_dir, save=save, variants=variants, curves=curves)


def figure(s: SimpleNamespace) -> pd.DataFrame:
    """Training vs held-out W estimate per arm; returns the per-run gap over the last quarter (the units)."""
    curves = s.curves
    long = curves.melt(id_vars=["variant", "seed", "iteration"],
                       value_vars=["wasserstein_estimate", "wasserstein_estimate_heldout"],
                       var_name="digits", value_name="negative critic loss (W estimate)")
    long["digits"] = long.digits.map({"wasserstein_estimate": "training", "wasserstein_estimate_heldout": "held out"})
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for ax, name in zip(axes, s.variants):
        sns.lineplot(data=long[long.variant == name], x="iteration", y="negative critic loss (W estimate)",
                     hue="digits", errorbar="sd", ax=ax)
        ax.set_title(f"trained on {name} (mean ± sd over {len(s.seeds)} seeds)")
        ax.set_xlabel("generator iteration")
    fig.suptitle("WGAN-GP Fig. 5b: the critic's negative loss on training vs held-out digits")
    fig.tight_layout()
    s.save(fig, "train_vs_heldout.png")
    s.gaps = last_quarter_gaps(curves)
    display(Markdown(
        "**What the figure shows.** For each training-set size, the critic's W estimate on the training batch and on "
        "held-out digits against the same generated batch. Over the last quarter of training the gap (training − held "
        "out) is " + "; ".join(f"{v}: {C.mean_sd_text(g.gap, 3)} (n = {len(g)})"
                               for v, g in s.gaps.groupby("variant", sort=False))
        + ". A critic that overfits scores its training digits higher than unseen ones."))
    return s.gaps


def last_quarter_gaps(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, seed): the mean gap over the last quarter of the logged iterations."""
    last = curves[curves.iteration >= curves.iteration.max() * 3 / 4]
    return last.groupby(["variant", "seed"], sort=False).gap.mean().rename("gap").reset_index()


def report(s: SimpleNamespace) -> None:
    """The claim, metrics.json / details.json, the verdict."""
    gaps, small = s.gaps, s.small
    get = lambda v: gaps[gaps.variant == v].gap.tolist()  # noqa: E731
    claims = [C.compared_claim(f"The critic overfits {small:,} digits: its loss on training and held-out digits "
                               "separate", "training and validation losses diverge on a small training set (Fig. 5b)",
                               "W estimate on training − on held-out digits, last quarter of training",
                               (f"{small:,} digits", get(f"{small:,} digits")), ("all digits", get("all digits")),
                               item="WGAN-GP §5.6, Fig. 5b", digits=3, id="07.critic_overfits")]
    claims = C.settle_with(claims, "longer training (gan_mnist.py: 200k generator iterations at DIM 64), where the "
                                   "paper saw the curves separate; the paper profile runs 10,000 iterations")
    metrics = {"profile": s.profile, "seeds": s.seeds, "iterations": s.iterations, "train_small": small,
               "heldout": s.heldout, **C.summarize(gaps, "variant", ["gap"]), "claims": claims}
    C.write_metrics(s.out_dir, metrics, {**C.mean_std(get(f"{small:,} digits"), "gap_small", digits=4),
                                         **C.mean_std(get("all digits"), "gap_all", digits=4)})
    display(Markdown(C.scale_note(s.profile, f"MNIST 28 px, DIM {s.dim}, {s.iterations} generator iterations, "
                                  f"{len(s.seeds)} seeds, {s.heldout:,} held-out digits",
                                  "MNIST, gan_mnist.py's DIM 64, 1,000 training digits")
                     + "\n\n" + C.claims_markdown(claims) + f"\n\nVerdict rule: {C.VERDICT_RULE}."))


__all__ = ["figure", "last_quarter_gaps", "report", "run"]
