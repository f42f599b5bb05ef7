"""WGAN-GP §5.1, Tables 1-2 (notebook 09): random architectures trained with WGAN-GP and with the GAN.

Architectures are drawn from Table 1's set (`models.table1_architecture`); each is trained once with WGAN-GP
(App. B's recommended settings: layer norm, Adam 1e-4, betas (0, 0.9)) and once with the standard GAN (DCGAN's:
batch norm, Adam 2e-4, betas (0.5, 0.999)). Table 2 counts, per KID threshold, the architectures only one method
trained below it.
"""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from .. import claims as C, experiments as E, plots
from ..fidelity import ScoringSpec
from ..presets import load_preset
from ..models import table1_architecture


def arms(scale: dict, architectures: int) -> tuple[dict, dict]:
    """(methods, variants): 'arch <k> / <method>' for draws 0 .. architectures-1 (WGAN-GP App. B's settings)."""
    methods = {"WGAN-GP": load_preset("mnist_wgan_gp", **scale, d_norm="layer", lr_g=1e-4, lr_d=1e-4, beta1=0.0,
                                   beta2=0.9),
               "GAN": load_preset("mnist_gan", **scale, d_norm="batch", lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999)}
    variants = {f"arch {k:02d} / {m}": {**cfg, "arch": f"gp-random-{k}"} for k in range(architectures)
                for m, cfg in methods.items()}
    return methods, variants


def run(dataset: str, image_size: int, dim: int, architectures: int, iterations: int, seeds: list[int],
        thresholds: list[float], n_samples: int, n_reference: int, log_every: int, out_dir=None, runs_dir=None,
        results_root: str = "results", profile: str = "quick"):
    """Train and score every architecture x method. Returns (state, each draw's spec beside its KID ×1e3)."""
    out_dir, runs_dir, save = E.setup(out_dir, runs_dir, "09_random_architectures")
    scale = dict(dataset=dataset, image_size=image_size, dim=dim, iterations=iterations, log_every=log_every,
                 sample_every=max(1, iterations // 3), checkpoint_every=0)
    methods, variants = arms(scale, architectures)
    trained, table = E.compare(variants, seeds, runs_dir,  # each run is scored where it trained
                               ScoringSpec(f"{dataset}-train", image_size, n_samples, n_reference))
    table[["architecture", "method"]] = table.variant.str.split(" / ", expand=True)
    specs = pd.DataFrame([{"architecture": f"arch {k:02d}",
                           **{f"{net[0].upper()} {key}": v for net, spec in table1_architecture(k).items()
                              for key, v in spec.items()}} for k in range(architectures)])
    wide = table.pivot_table(index="architecture", columns="method", values="kid").mul(1e3).round(1)
    s = SimpleNamespace(dim=dim, architectures=architectures, iterations=iterations, seeds=seeds,
                        thresholds=thresholds, n_samples=n_samples, profile=profile, out_dir=out_dir, save=save,
                        methods=methods, variants=variants, trained=trained, table=table, specs=specs, wide=wide)
    return s, specs.merge(wide.reset_index(), on="architecture")


def outcomes_table(wide: pd.DataFrame, thresholds: list[float]) -> pd.DataFrame:
    """Table 2's layout: per KID ×1e3 threshold, how many architectures only GAN / only WGAN-GP / both /
    neither trained below it."""
    rows = []
    for t in thresholds:
        ok = wide < t
        rows.append({"KID×1e3 below": t, "only GAN": int((ok.GAN & ~ok["WGAN-GP"]).sum()),
                     "only WGAN-GP": int((ok["WGAN-GP"] & ~ok.GAN).sum()), "both": int((ok.GAN & ok["WGAN-GP"]).sum()),
                     "neither": int((~ok.GAN & ~ok["WGAN-GP"]).sum())})
    return pd.DataFrame(rows)


def kid_figure(s: SimpleNamespace) -> pd.DataFrame:
    """KID per architecture and method; Table 2's count (outcomes.csv), returned."""
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * s.architectures), 4))
    kid = s.table.assign(kid1e3=s.table.kid * 1e3)
    for arch, g in kid.groupby("architecture"):
        ax.plot([arch] * 2, g.sort_values("method").kid1e3, color="0.7", lw=1, zorder=1)
    sns.scatterplot(data=kid, x="architecture", y="kid1e3", hue="method", hue_order=list(s.methods), s=60, ax=ax,
                    zorder=2)
    for t in s.thresholds:
        ax.axhline(t, color="k", lw=0.5, ls=":")
    ax.set_ylabel("KID ×1e3 (lower is better)")
    ax.set_xlabel("architecture (Table 1 draw)")
    ax.set_title(f"Each architecture trained with both methods ({s.iterations} generator iterations, {s.n_samples} "
                 "samples)")
    s.save(fig, "kid_by_architecture.png")
    s.outcomes = outcomes_table(s.wide, s.thresholds)
    s.outcomes.to_csv(s.out_dir / "outcomes.csv", index=False)
    s.lower = int((s.wide["WGAN-GP"] < s.wide.GAN).sum())
    display(Markdown(f"**What the figure shows.** Each architecture's KID with WGAN-GP and with the GAN (a grey line "
                     f"joins the pair; dotted: the thresholds). WGAN-GP has the lower KID on {s.lower} of "
                     f"{s.architectures} architectures; KID ×1e3 ranges from {kid.kid1e3.min():.0f} to "
                     f"{kid.kid1e3.max():.0f}. The table counts, per threshold, the architectures only one method "
                     "trained below it (Table 2's layout)."))
    return s.outcomes


def samples_figure(s: SimpleNamespace) -> None:
    s.save(plots.samples_over_time({name: [s.trained[(name, s.seeds[0])]] for name in s.variants}),
           "samples_over_time.png")
    display(Markdown(f"**What the figure shows.** Fixed-noise samples of every architecture and method over training "
                     f"(the iteration on each panel). At {s.iterations} generator iterations on MNIST, the question is "
                     "which runs have started to form strokes and which stay noise or one repeated shape."))


def report(s: SimpleNamespace) -> None:
    """The claim (Table 2's count), the paired KID (shown, unscored), metrics.json / details.json."""
    pairs = s.wide.dropna()
    success = {t: ((pairs["WGAN-GP"] < t).tolist(), (pairs.GAN < t).tolist()) for t in s.thresholds}
    claims = [C.success_count_claim(
        "WGAN-GP trains more random architectures than the GAN (Table 2's count, KID thresholds)",
        "WGAN-GP trains many architectures the standard GAN cannot (Table 2)", ("WGAN-GP", "GAN"), success,
        item="WGAN-GP §5.1, Tables 1–2", id="09.table2_count")]
    paired_kid = C.compare_arms((pairs["WGAN-GP"] / 1e3).tolist(), (pairs.GAN / 1e3).tolist(),
                                higher_is_better=False, paired=True)
    display(Markdown(f"**Paired KID, unscored.** KID ×1e3 WGAN-GP {C.mean_sd_text(pairs['WGAN-GP'], 1)}, GAN "
                     f"{C.mean_sd_text(pairs.GAN, 1)} ({C.stats_text(paired_kid, 1, 1e3)}): which method's samples are "
                     "further from noise, not whether either trained."))
    claims = C.settle_with(claims, "the paper's scale: 200 architectures at DIM 64 for 100k generator iterations on "
                                   f"32×32 images (the paper profile); here {s.architectures} architectures at "
                                   f"{s.iterations} iterations")
    metrics = {"profile": s.profile, "seeds": s.seeds, "iterations": s.iterations, "architectures": s.architectures,
               "dim": s.dim, "thresholds": s.thresholds, "specs": s.specs.to_dict("records"),
               "outcomes": s.outcomes.to_dict("records"), "paired_kid": paired_kid,
               **C.summarize(s.table, "method", ["kid", "fid"]), "claims": claims}
    C.write_metrics(s.out_dir, metrics, {**C.mean_std(pairs["WGAN-GP"] / 1e3, "kid_wgan_gp", 1e3, 1),
                                         **C.mean_std(pairs.GAN / 1e3, "kid_gan", 1e3, 1), "wgan_gp_lower": s.lower})
    display(Markdown(C.scale_note(s.profile, f"MNIST 28 px, {s.architectures} architectures at filter scale "
                                  f"{s.dim}/64, {s.iterations} generator iterations, one run per architecture and "
                                  "method", "200 architectures on 32×32 ImageNet, 100k generator iterations, "
                                  "Inception score") + "\n\n" + C.claims_markdown(claims, with_rule=True)))


__all__ = ["arms", "kid_figure", "outcomes_table", "report", "run", "samples_figure"]
