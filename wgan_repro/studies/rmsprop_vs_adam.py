"""WGAN §3 (notebook 04): momentum optimisers and weight-clipped critics, on gan_mnist.py's DCGAN.

Arms: clipping with RMSProp (the WGAN code's default), clipping with the WGAN code's --adam (main.py: Adam,
lr = lrD = 5e-5, betas (0.5, 0.999)), and the gradient penalty with Adam (WGAN-GP Alg. 1).
"""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import Markdown, display

from .. import claims as C, experiments as E, plots
from ..metrics import sample_generator

ADAM = dict(optimizer="adam", lr_g=5e-5, lr_d=5e-5, beta1=0.5, beta2=0.999)  # the WGAN code's --adam


def arms(scale: dict) -> dict[str, dict]:
    """gan_mnist.py's WGAN and WGAN-GP modes (configs/mnist_wgan_clip.yaml, mnist_wgan_gp.yaml), and clipping
    with Adam (the setting WGAN §3 tried)."""
    clip, gp = E.preset("mnist_wgan_clip", **scale), E.preset("mnist_wgan_gp", **scale)
    return {"clip + RMSProp": clip, "clip + Adam": {**clip, **ADAM}, "GP + Adam": gp}


def run(dataset: str, image_size: int, dim: int, iterations: int, seeds: list[int], n_samples: int,
        n_reference: int, log_every: int, out_dir=None, runs_dir=None, results_root: str = "results",
        profile: str = "quick") -> SimpleNamespace:
    """Train and score every arm x seed (each run scored where it trained); the per-arm summary is shown."""
    out_dir, runs_dir, save = E.setup(out_dir, runs_dir, "04_rmsprop_vs_adam")
    scale = dict(dataset=dataset, image_size=image_size, dim=dim, iterations=iterations, log_every=log_every,
                 sample_every=max(1, iterations // 4), checkpoint_every=0)
    variants = arms(scale)
    trained, table = E.compare(variants, seeds, runs_dir,
                               E.scoring_spec(f"{dataset}-train", image_size, n_samples, n_reference))
    table["instability"] = [C.instability(trained[(v, s)].history) for v, s in zip(table.variant, table.seed)]
    display(table.groupby("variant", sort=False)[["kid", "fid", "instability"]].agg(["mean", "std"]))
    return SimpleNamespace(**{k: v for k, v in locals().items() if k != "scale"})


def figures(s: SimpleNamespace) -> None:
    """W estimates of the clipped arms, KID per arm, samples at the end and over training."""
    curves = E.histories_frame(s.trained)
    curves[["variant", "seed", "iteration", "wasserstein_estimate", "loss_generator"]].to_csv(
        s.out_dir / "curves.csv", index=False)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    sns.lineplot(data=curves[curves.variant != "GP + Adam"], x="iteration", y="wasserstein_estimate", hue="variant",
                 errorbar="sd", ax=axes[0])
    axes[0].set_title("clipped critic's W estimate: RMSProp vs Adam")
    sns.barplot(data=s.table.assign(kid1e3=s.table.kid * 1e3), x="variant", y="kid1e3", errorbar="sd", ax=axes[1])
    axes[1].set_ylabel("KID ×1e3 (lower is better)")
    s.save(fig, "curves_kid.png")
    fig, axes = plt.subplots(1, len(s.variants), figsize=(5 * len(s.variants), 5))
    for ax, name in zip(axes, s.variants):
        ax.imshow(plots.image_grid_array(sample_generator(s.trained[(name, s.seeds[0])].generator, 64, seed=0)))
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"MNIST samples after {s.iterations} generator iterations, seed {s.seeds[0]}")
    s.save(fig, "samples.png")
    # the same fixed noise over training (early to end), two seeds per variant
    s.save(plots.samples_over_time({name: [s.trained[(name, k)] for k in s.seeds[:2]] for name in s.variants}),
           "samples_over_time.png")


def report(s: SimpleNamespace) -> None:
    """The claims, metrics.json / details.json, the verdict table and how to read the instability numbers."""
    table, iterations = s.table, s.iterations
    get = lambda v, c="kid": table[table.variant == v][c].tolist()  # noqa: E731
    claims = [
        C.compared_claim("Clipped WGAN: RMSProp gives better samples than Adam",
                         "Adam makes WGAN unstable; RMSProp works (§3)",
                         "KID ×1e3", ("RMSProp", get("clip + RMSProp")), ("Adam", get("clip + Adam")),
                         higher_is_better=False, item="WGAN §3 (Adam)", scale=1e3, id="04.rmsprop_beats_adam_kid"),
        C.compared_claim("Clipped WGAN: Adam makes the W estimate oscillate more",
                         "training becomes unstable with Adam (§3)",
                         "instability of the W estimate", ("Adam", get("clip + Adam", "instability")),
                         ("RMSProp", get("clip + RMSProp", "instability")), item="WGAN §3 (Adam)", digits=4,
                         id="04.adam_unstable"),
        C.compared_claim("The gradient penalty trains well with Adam", "WGAN-GP uses Adam (Alg. 1)",
                         "KID ×1e3", ("GP + Adam", get("GP + Adam")), ("clip + Adam", get("clip + Adam")),
                         higher_is_better=False, item="WGAN-GP Alg. 1", scale=1e3, id="04.gp_adam_kid"),
    ]
    claims = C.settle_with(claims, "the paper's scale: DIM 64, 100k+ generator iterations (the paper profile, a GPU "
                                   "job), where §3 saw Adam destabilise clipped critics; nothing at "
                                   f"{iterations} MNIST iterations points to a CPU-sized run that would")
    metrics = {"profile": s.profile, "seeds": s.seeds, "iterations": iterations, "dataset": s.dataset,
               **C.summarize(table, "variant", ["kid", "fid", "instability"]), "claims": claims}
    headline = {**C.mean_std(get("clip + RMSProp"), "kid_clip_rmsprop", 1e3, 1),
                **C.mean_std(get("clip + Adam"), "kid_clip_adam", 1e3, 1),
                **C.mean_std(get("GP + Adam"), "kid_gp_adam", 1e3, 1),
                **C.mean_std(get("clip + Adam", "instability"), "instab_clip_adam", digits=4),
                **C.mean_std(get("clip + RMSProp", "instability"), "instab_clip_rmsprop", digits=4)}
    C.write_metrics(s.out_dir, metrics, headline)
    inst = table.groupby("variant", sort=False).instability.mean()
    least_stable = inst.idxmax()
    discussion = (f"**Reading the instability numbers.** By this notebook's own measure (mean absolute change of the W "
                  f"estimate between logs over the second half, relative to its level) the least stable run is "
                  f"**{least_stable}** ({inst[least_stable]:.4f}; clip + RMSProp {inst['clip + RMSProp']:.4f}, "
                  f"clip + Adam {inst['clip + Adam']:.4f}). "
                  + ("For GP + Adam this is expected rather than a failure: the penalised critic is not clipped, so "
                     "its W estimate moves on a larger scale and keeps falling as the generator improves; the measure "
                     "compares oscillation of one objective across optimisers, so only the two clipped arms are "
                     "compared by the claim above." if least_stable == "GP + Adam" else ""))
    display(Markdown(C.scale_note(s.profile, f"MNIST 28 px, {iterations} generator iterations, DIM {s.dim}, "
                                  f"{len(s.seeds)} seeds, KID on {s.n_samples} samples",
                                  "LSUN/MNIST at DIM 64 for 100k+ generator iterations")
                     + "\n\n" + C.claims_markdown(claims) + f"\n\nVerdict rule: {C.VERDICT_RULE}. KID is reported "
                     "×1e3.\n\n" + discussion))


__all__ = ["ADAM", "arms", "figures", "report", "run"]
