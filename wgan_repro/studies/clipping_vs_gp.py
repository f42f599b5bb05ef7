"""WGAN-GP §5.3, Fig. 3 (notebook 03): weight clipping against the gradient penalty on CIFAR-10.

The paper trains four arms (gan_cifar.py's DCGAN): WGAN with weight clipping (RMSProp 5e-5), WGAN-GP
with RMSProp at clipping's learning rate ("to control for the optimizer"), WGAN-GP with Adam 1e-4, and
DCGAN. Its sentences (§5.3): "Even with the same optimizer, our method converges faster and to a better
score than weight clipping. Using Adam further improves performance." Fig. 3's caption: "WGAN-GP
significantly outperforms weight clipping and performs comparably to DCGAN."

Declared 2026-12-02, after the first looks at 600 iterations (2 arms) were committed: the same-optimizer
arm and the preconditions are new here, so these verdicts are a first look on the new declaration.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import claims as C
from . import Claim

CLIP, GP_RMSPROP, GP_ADAM, DCGAN = "WGAN (clip)", "WGAN-GP (RMSProp)", "WGAN-GP", "DCGAN"
SAME_OPTIMIZER = ("Even with the same optimizer, our method converges faster and to a better score than weight "
                  "clipping.")
ADAM = "Using Adam further improves performance."
CAPTION = "WGAN-GP significantly outperforms weight clipping and performs comparably to DCGAN."

CLAIMS = (
    Claim("03.same_optimizer_kid", "WGAN-GP §5.3, Fig. 3", SAME_OPTIMIZER,
          "With the same optimizer (RMSProp 5e-5), GP beats clipping (KID, CIFAR-10)", "kid", GP_RMSPROP, CLIP,
          higher_is_better=False, requires=("images", "same_optimizer")),
    Claim("03.adam_improves_kid", "WGAN-GP §5.3, Fig. 3", ADAM,
          "GP with Adam beats GP with RMSProp (KID, CIFAR-10)", "kid", GP_ADAM, GP_RMSPROP, higher_is_better=False,
          requires=("images",)),
    Claim("03.caption_kid", "WGAN-GP §5.3, Fig. 3 (caption)", CAPTION,
          "GP (Adam, the paper's settings) beats clipping (RMSProp, its settings) (KID, CIFAR-10)", "kid",
          GP_ADAM, CLIP,
          higher_is_better=False, requires=("images",)),
    Claim("03.caption_fid", "WGAN-GP §5.3, Fig. 3 (caption)", CAPTION,
          "GP (Adam) beats clipping (RMSProp): the same samples read by FID", "fid", GP_ADAM, CLIP,
          higher_is_better=False, family="secondary", requires=("images",)),
)
IMAGE_KID = 0.150  # KID (not x1e3) below which an arm's samples count as images, not noise or blobs
# (gan_cifar.py's DCGAN on one H100: KID 0.108 at 13,000 iterations, results/paper/03_clipping_vs_gp)


def preconditions(table: pd.DataFrame, variants: dict[str, dict]) -> dict[str, dict]:
    """Each named precondition, checked on the data: whether the comparison tests the paper's sentence here."""
    kid = {v: float(table[table.variant == v].kid.mean()) for v in table.variant.unique()}
    optimisers = {v: (variants[v]["optimizer"], variants[v]["lr_d"]) for v in (CLIP, GP_RMSPROP) if v in variants}
    return {
        "images": C.precondition(
            f"every arm's samples are images (mean KID ×1e3 < {IMAGE_KID * 1e3:.0f})",
            all(k < IMAGE_KID for k in kid.values()),
            "mean KID ×1e3 " + ", ".join(f"{v} {k * 1e3:.0f}" for v, k in kid.items())),
        "same_optimizer": C.precondition(
            "the two arms differ only in the Lipschitz method (same optimiser and learning rate)",
            len(set(optimisers.values())) == 1 and len(optimisers) == 2,
            ", ".join(f"{v}: {o} {lr:g}" for v, (o, lr) in optimisers.items())),
    }


def verdicts(table: pd.DataFrame, variants: dict[str, dict], iterations: int, n_samples: int,
             n_reference: int) -> list[dict]:
    """Every declared claim whose two arms ran, decided from the per-run score table (variant, seed, kid, fid)."""
    pre = preconditions(table, variants)
    rows = []
    for c in CLAIMS:
        if not {c.better, c.worse} <= set(table.variant):
            continue
        what = (f"KID ×1e3 after {iterations} generator iterations" if c.measure == "kid"
                else f"FID on {n_samples} samples vs {n_reference} training images")
        checked = [pre[name] for name in c.requires]
        requires = C.precondition(" and ".join(p["what"] for p in checked), all(p["holds"] for p in checked),
                                  "; ".join(p["measured"] for p in checked)) if checked else None
        row = C.compared_claim(
            c.name, c.quote, what, (c.better, table[table.variant == c.better][c.measure].tolist()),
            (c.worse, table[table.variant == c.worse][c.measure].tolist()), higher_is_better=c.higher_is_better,
            item=c.item, scale=1e3 if c.measure == "kid" else 1.0, digits=2 if c.measure == "kid" else 1,
            family=c.family, requires=requires)
        row["id"] = c.id
        rows.append(row)
    return rows


def weight_share_at_clip(curves: pd.DataFrame) -> tuple[float, float]:
    """Mean and sd over seeds of the share of the clipped critic's weights at ±c at the end (WGAN-GP Fig. 1b)."""
    last = curves[curves.variant == CLIP].groupby("seed").tail(1).critic_weight_at_clip
    return float(np.mean(last)), C.sd(last)


__all__ = ["CLAIMS", "IMAGE_KID", "preconditions", "verdicts", "weight_share_at_clip"]
