"""What the replication covers: every figure, table and section of both papers that makes a claim,
the notebook that tests it (or why none does), and the coverage table (docs/scorecard.md) built from the claim rows.
"""
from __future__ import annotations

from .claims import _cell  # the one markdown-cell escaper

# Every figure/table/section of both papers that makes a claim: (paper, item, what it shows, notebook or None,
# why not covered). A claim row's `item` names one of these (matched by `key in item`; tests/test_claims.py).
PAPER_ITEMS = [
    ("WGAN", "WGAN §2, Example 1", "parallel lines: W is continuous in θ, JS and KL are not (Fig. 1)",
     "00_divergences", None),
    ("WGAN", "WGAN Fig. 2", "the GAN discriminator saturates between two Gaussians, the critic keeps a slope",
     "00_divergences", None),
    ("WGAN", "WGAN Fig. 3", "the critic's W estimate falls as samples improve", "05_meaningful_loss", None),
    ("WGAN", "WGAN Figs. 3–4", "the GAN's JS estimate does not track sample quality", "05_meaningful_loss", None),
    ("WGAN", "WGAN §4.2 (Adam)", "momentum-based optimisers make clipped WGAN training unstable",
     "04_rmsprop_vs_adam", None),
    ("WGAN", "WGAN Fig. 5", "DCGAN generator: WGAN and GAN both train (samples)", "02_generator_architectures", None),
    ("WGAN", "WGAN Fig. 6", "no batch norm, constant filters: WGAN trains, GAN fails", "02_generator_architectures",
     None),
    ("WGAN", "WGAN Fig. 7", "MLP generator: WGAN trains, GAN collapses", "02_generator_architectures", None),
    ("WGAN", "WGAN §4.3", "\"In no experiment did we see evidence of mode collapse for the WGAN algorithm\" "
     "(02's digit classes; 01's toy mixtures)", "02_generator_architectures, 01_toy_mode_collapse", None),
    ("WGAN", "LSUN samples (Figs. 5–7 at 64 px, appendix)", "sample quality on LSUN bedrooms", None,
     "LSUN is not available offline; `dataset=lsun-bedroom` runs it where the data is"),
    ("WGAN-GP", "WGAN-GP Fig. 1(a)", "clipping's critic ignores higher moments of the toy distributions",
     "01_toy_mode_collapse", None),
    ("WGAN-GP", "WGAN-GP Fig. 1(b)", "clipped critics' gradients vanish or explode across layers; weights pile at ±c",
     "01_toy_mode_collapse", None),
    ("WGAN-GP", "WGAN-GP Alg. 1", "the penalised critic trains with Adam (our extension: secondary)",
     "04_rmsprop_vs_adam", None),
    ("WGAN-GP", "WGAN-GP §5.3, Fig. 3", "CIFAR-10: GP converges faster and better than clipping, also at RMSProp's lr; "
     "against DCGAN; over iterations and wall-clock", "03_clipping_vs_gp", None),
    ("WGAN-GP", "WGAN-GP §5.6, Fig. 5b", "the critic's train and held-out losses separate when it overfits",
     "07_overfitting", None),
    ("WGAN-GP", "WGAN-GP §5.1, Tables 1–2", "WGAN-GP trains many more random architectures than the GAN",
     "09_random_architectures", None),
    ("WGAN-GP", "WGAN-GP §5.2, Fig. 2", "six architectures on LSUN bedrooms with four methods", None,
     "LSUN is not available offline (WGAN Figs. 6–7's two generators are in 02)"),
    ("WGAN-GP", "Inception scores on CIFAR-10 (§5.4, Table 3)", "state-of-the-art IS among unsupervised models", None,
     "IS needs torch-fidelity's logits weights, not available offline (FID/KID instead)"),
    ("WGAN-GP", "ResNet and 128 px LSUN samples (§5.4, Fig. 4)", "deep ResNets train stably", None,
     "LSUN 128 px is not available offline; GPU scale"),
    ("WGAN-GP", "§5.5 character-level language model", "a continuous generator models text", None,
     "outside this image replication (the Billion Word data is not offline)"),
    ("WGAN-GP", "WGAN-GP §4 (penalty coefficient)", "λ = 10 works well from toy tasks to large CNNs",
     "08_penalty_ablations", None),
    ("WGAN-GP", "WGAN-GP App. C (one-sided penalty)", "the two-sided penalty performs slightly better than the "
     "one-sided", "08_penalty_ablations", None),
    ("A&B 2017", "Arjovsky & Bottou 2017, Fig. 2", "the minimax generator's gradient vanishes as D improves",
     "06_vanishing_gradients", None),
]


def coverage_markdown(rows: list[dict]) -> str:
    """The coverage table (docs/scorecard.md): every paper item, the notebook that tests it, its verdicts (from the
    claim rows), or why it is not covered."""
    lines = ["| paper | item | claim | notebook | verdicts (this run) |", "|---|---|---|---|---|"]
    for paper, item, what, notebook, why in PAPER_ITEMS:
        verdicts = [r["verdict"] for r in rows if item in (r.get("item") or "")]
        shown = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts)) or (
            "figure only (no scored claim)" if notebook else "—")
        lines.append(f"| {paper} | {_cell(item)} | {_cell(what)} | {notebook or 'not covered: ' + _cell(why)} | "
                     f"{shown} |")
    return "\n".join(lines)


def uncovered_items(rows: list[dict]) -> list[str]:
    """Claim rows whose `item` matches no PAPER_ITEMS entry (each claim must name a paper item)."""
    return [r["claim"] for r in rows if not (r.get("item") or "").startswith("none")
            and not any(item in (r.get("item") or "") for _, item, *_ in PAPER_ITEMS)]


__all__ = ["PAPER_ITEMS", "coverage_markdown", "uncovered_items"]
