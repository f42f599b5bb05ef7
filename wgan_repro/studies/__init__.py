"""One study per paper item: its claims declared as data (the paper's sentence, the arms compared, the
measure, the direction, the family, the precondition), and `verdicts(table)` that decides them from run
records, tested on small fixed tables with no training. Each notebook is a paper section that calls its
study: `s = study.run(**parameters(study.run, globals()))`, then one call per figure and `study.report(s)`.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from ..claims import precondition

# KID (not x1e3) below which MNIST samples count as images, not noise (declared with notebook 05's precondition,
# 2026-12-02; 02's batch-norm DCGAN WGAN, which draws digits, has KID 0.21 at 2,000 iterations); 04 uses it too
MNIST_IMAGE_KID = 0.25


@dataclass(frozen=True)
class Claim:
    """A claim declared before its data is read: what the paper says and how we decide it."""

    id: str                # unique, stable: '<notebook>.<name>'
    item: str              # the paper's section / figure, checked against the paper's text
    quote: str             # the paper's sentence, whole
    name: str              # our one-line statement of it
    measure: str           # the table column compared (e.g. 'kid')
    better: str            # the arm the paper says is better
    worse: str
    higher_is_better: bool
    family: str = "primary"  # 'primary' (Holm family of the scorecard) or 'secondary' (another readout)
    requires: tuple[str, ...] = ()  # preconditions by name (the study defines them)


def required(claim: Claim, pre: dict[str, dict]) -> dict | None:
    """The preconditions `claim` requires (by name, from `pre`: the study's, checked on the data) as one, their
    texts joined; None when it requires none."""
    checked = [pre[name] for name in claim.requires]
    return precondition(" and ".join(p["what"] for p in checked), all(p["holds"] for p in checked),
                        "; ".join(p["measured"] for p in checked)) if checked else None


def parameters(fn, namespace: dict) -> dict:
    """The arguments of `fn` found in `namespace` (a notebook's globals after papermill injected its
    parameters): each study's `run` names the parameters it takes, the notebook's parameters cell sets them."""
    return {name: namespace[name] for name in inspect.signature(fn).parameters if name in namespace}


__all__ = ["Claim", "MNIST_IMAGE_KID", "parameters", "required"]
