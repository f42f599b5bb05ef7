"""WGAN §2 Example 1 and Fig. 2 (notebook 00): why the Wasserstein distance.

Example 1 (parallel lines) and the discrete EMD are closed forms, shown and never counted. Fig. 2 is an
experiment: a GAN discriminator and a clipped WGAN critic fitted between N(0, 1) and N(fig2_gap, 1); on the
generated samples the discriminator's slope vanishes while the critic's stays.
"""
from __future__ import annotations

import copy
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from .. import claims as C, experiments as E, theory
from ..probes import fit_critic_1d

SATURATED = 0.1  # Fig. 2's discriminator has saturated on the fakes when its slope there is < 10% of its maximum
FIG2_RULE = (f"{C.VERDICT_RULE}; reproduced also requires the discriminator's slope on the fakes to be below "
             f"{SATURATED:.0%} of its maximum in every seed (else not resolved at this scale)")


def run(steps: int, seeds: list[int], fig2_gap: float, out_dir=None, runs_dir=None, profile: str = "quick",
        results_root: str = "results") -> SimpleNamespace:
    """The notebook's folders; the closed forms are computed by `parallel_lines`, Fig. 2 by `fig2`."""
    out_dir, runs_dir, save = E.setup(out_dir, runs_dir, "00_divergences")
    return SimpleNamespace(steps=steps, seeds=seeds, fig2_gap=fig2_gap, profile=profile, out_dir=out_dir,
                           save=save)


def parallel_lines(s: SimpleNamespace) -> None:
    """WGAN Example 1: W and JS between the parallel lines for θ in [-1, 1]; the discrete EMD example."""
    thetas = np.linspace(-1, 1, 201)
    df = pd.DataFrame([dict(theta=t, **theory.parallel_lines(t)) for t in thetas])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].plot(df.theta, df.W)
    axes[0].set_title("W(P0, Pθ) = |θ|")
    axes[1].plot(df.theta, df.JS)
    axes[1].set_title("JS(P0, Pθ): log 2 except at θ = 0")
    for ax in axes:
        ax.set_xlabel("θ")
    s.save(fig, "parallel_lines.png")
    s.emd = theory.emd((3, 2, 1, 4), (1, 2, 4, 3))
    print(f"EMD((3,2,1,4), (1,2,4,3)) = {s.emd:.6f}")


def _grad_at(f, pts):
    """|df/dx| at pts, in float64: a saturated sigmoid's slope stays a number instead of underflowing to 0."""
    pts = pts.double().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(pts).sum(), pts)
    return g.abs().view(-1)


def fig2(s: SimpleNamespace) -> pd.DataFrame:
    """Per seed: D's and the critic's slope on 4,000 generated samples, each relative to its own maximum over
    the plotted range; the figure for the first seed. Returns the per-seed table."""
    gap, steps = s.fig2_gap, s.steps
    x = torch.linspace(-4, gap + 4, 400).view(-1, 1)
    records, curves = [], {}
    for seed in s.seeds:
        gan, _ = fit_critic_1d(0.0, gap, loss="gan", gp_weight=0.0, steps=steps, seed=seed)
        critic, _ = fit_critic_1d(0.0, gap, loss="wgan", gp_weight=0.0, clip_value=0.01, lr=5e-4, steps=steps,
                                  seed=seed)
        _, w_gp = fit_critic_1d(0.0, 3.0, loss="wgan", gp_weight=100.0, steps=steps, seed=seed)  # W1 = 3
        fake = torch.randn(4000, 1) + gap
        gan64, critic64 = copy.deepcopy(gan).double(), copy.deepcopy(critic).double()
        d_prob = lambda v: torch.sigmoid(gan64(v))  # noqa: E731
        records.append(dict(seed=seed,
                            gan_grad_on_fakes_rel=float(_grad_at(d_prob, fake).mean() / _grad_at(d_prob, x).max()),
                            critic_grad_on_fakes_rel=float(_grad_at(critic64, fake).mean()
                                                           / _grad_at(critic64, x).max()),
                            w_estimate_gp=w_gp))
        if seed == s.seeds[0]:
            with torch.no_grad():
                curves = dict(x=x.view(-1).numpy(), D=torch.sigmoid(gan(x)).view(-1).numpy(),
                              f=critic(x).view(-1).numpy(),
                              Dstar=theory.optimal_discriminator(x.view(-1).numpy(), 0, 1, gap, 1))
    s.rec = pd.DataFrame(records)
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = curves["x"]
    ax.plot(xs, np.exp(-xs**2 / 2) / np.sqrt(2 * np.pi), "b", alpha=.4, label="real N(0,1)")
    ax.plot(xs, np.exp(-(xs - gap)**2 / 2) / np.sqrt(2 * np.pi), "g", alpha=.4, label=f"fake N({gap:g},1)")
    ax.plot(xs, curves["D"], "r", label="GAN discriminator D(x)")
    ax.plot(xs, curves["Dstar"], "r:", label="optimal D* = p_r/(p_r+p_g)")
    f = curves["f"]
    ax.plot(xs, (f - f.min()) / (f.max() - f.min()), "c", label="WGAN critic (rescaled)")
    ax.legend(fontsize=8)
    ax.set_title("WGAN Fig. 2: D saturates, the critic stays linear")
    s.save(fig, "fig2_discriminator_vs_critic.png")
    return s.rec


def fig2_claim(rec: pd.DataFrame) -> dict:
    """Fig. 2's claim from the per-seed table: the critic's relative slope on the fakes above D's (log10,
    Welch), D saturated in every seed (`SATURATED`), both stated in the rule."""
    gan_rel, crit_rel = rec.gan_grad_on_fakes_rel, rec.critic_grad_on_fakes_rel
    c = C.compared_claim("GAN D saturates, WGAN critic gives clean gradients (Fig. 2)",
                         "D's gradient vanishes on fakes; the critic's does not",
                         "log10 of |slope| on generated samples relative to its maximum",
                         ("critic", list(np.log10(crit_rel))), ("GAN D", list(np.log10(gan_rel))),
                         item="WGAN Fig. 2", digits=2, id="00.fig2_critic_gradients",
                         note=f"(|dD/dx| on fakes {C.mean_sd_text(gan_rel, 4)} of its maximum; critic "
                              f"{C.mean_sd_text(crit_rel, 3)})")
    c["rule"] = FIG2_RULE
    if c["verdict"] == C.REPRODUCED and not gan_rel.max() < SATURATED:
        c["verdict"] = C.UNRESOLVED
    return c


def report(s: SimpleNamespace) -> None:
    """The claims (two closed forms, Fig. 2), metrics.json / details.json, the verdict table."""
    rec, emd = s.rec, s.emd
    gan_rel, crit_rel = rec.gan_grad_on_fakes_rel, rec.critic_grad_on_fakes_rel
    claims = [
        C.claim("EMD of the discrete example (L. Weng's blog, not the paper)", "= 5", f"{emd:.6f}", C.CLOSED_FORM,
                "exact LP solution", item="none (a check of theory.emd)", id="00.emd_example"),
        C.claim("Parallel lines: only W is continuous in θ", "W=|θ|, JS=log 2, KL=∞ for θ≠0",
                f"W(0.5)={theory.parallel_lines(0.5)['W']}, JS(0.5)={theory.parallel_lines(0.5)['JS']:.4f}",
                C.CLOSED_FORM, "closed form", item="WGAN §2, Example 1", id="00.parallel_lines"),
        fig2_claim(rec),
    ]
    metrics = {"emd_example": emd,
               "gan_grad_on_fakes_rel": {"mean": gan_rel.mean(), "std": C.sd(gan_rel), "n": len(gan_rel)},
               "critic_grad_on_fakes_rel": {"mean": crit_rel.mean(), "std": C.sd(crit_rel), "n": len(crit_rel)},
               "w_estimate_gp_lambda100": {"mean": rec.w_estimate_gp.mean(), "std": C.sd(rec.w_estimate_gp)},
               "fig2_gap": s.fig2_gap, "claims": claims, "profile": s.profile, "seeds": s.seeds}
    C.write_metrics(s.out_dir, metrics, {"emd_example": emd, **C.mean_std(gan_rel, "gan_grad_on_fakes_rel"),
                                         **C.mean_std(crit_rel, "critic_grad_on_fakes_rel")})
    display(Markdown(C.scale_note(s.profile, f"{s.steps} steps per 1-D critic, {len(s.seeds)} seeds",
                                  "closed forms; Fig. 2 is one illustration")
                     + "\n\n" + C.claims_markdown(claims, with_rule=True)))


__all__ = ["FIG2_RULE", "SATURATED", "fig2", "fig2_claim", "parallel_lines", "report", "run"]
