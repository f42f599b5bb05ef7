"""One study per paper item: its claims declared as data (the paper's sentence, the arms compared, the
measure, the direction, the family, the precondition), and `verdicts(table)` that decides them from run
records, tested on small fixed tables with no training. Notebook 03 is the first to live here; the other
notebooks still declare their claims in their own cells (issue 28 moves them).
"""
from __future__ import annotations

from dataclasses import dataclass


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


__all__ = ["Claim"]
