"""The decision layer: verdict rules, the statistics behind them, claim rows, the files a
notebook's numbers are written to, and the scorecard table.

A claim quotes the paper, names our number and carries a verdict that follows from the numbers
by a rule stated next to it (`VERDICT_RULE` unless the notebook states its own).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

REPRODUCED, NOT_REPRODUCED, UNRESOLVED = "reproduced", "not reproduced", "not resolved at this scale"

VERDICT_RULE = ("reproduced when the claimed-better variant's mean beats the other's by more than the "
                "sum of their standard deviations over seeds; not reproduced when the opposite holds "
                "by that margin; otherwise not resolved at this scale")


# ---------------------------------------------------------------------- verdicts and statistics
def verdict(better: list[float], worse: list[float], higher_is_better: bool = True) -> str:
    """Compare the variant the paper says is better against the other, over seeds (VERDICT_RULE)."""
    b, w = np.asarray(better, float), np.asarray(worse, float)
    if not higher_is_better:
        b, w = -b, -w
    margin = b.std() + w.std()
    gap = b.mean() - w.mean()
    if gap > margin and gap > 0:
        return REPRODUCED
    if -gap > margin and gap < 0:
        return NOT_REPRODUCED
    return UNRESOLVED


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def instability(history: list[dict], key: str = "wasserstein_estimate") -> float:
    """Mean absolute change of a logged curve between consecutive logs over its second half,
    relative to its mean absolute level: large when training oscillates (WGAN §3, Adam)."""
    values = np.asarray([row[key] for row in history], float)
    half = values[len(values) // 2:]
    if len(half) < 2:
        return float("nan")
    return float(np.abs(np.diff(half)).mean() / (np.abs(half).mean() + 1e-12))


def summarize(rows: pd.DataFrame, by: str, columns: list[str]) -> dict:
    """{variant: {col: {mean, std, values}}} over seeds."""
    out = {}
    for name, group in rows.groupby(by, sort=False):
        out[name] = {c: {"mean": float(group[c].mean()), "std": float(group[c].std(ddof=0)),
                         "values": [float(v) for v in group[c]]} for c in columns}
    return out


def mean_std(values, prefix: str, scale: float = 1.0, digits: int = 4) -> dict:
    """{prefix: mean, prefix_sd: std} over seeds, rounded (headline metrics)."""
    v = np.asarray(values, float) * scale
    return {prefix: round(float(v.mean()), digits), f"{prefix}_sd": round(float(v.std()), digits)}


# ---------------------------------------------------------------------- claim rows
def claim(name: str, paper: str, ours: str, result: str, rule: str = VERDICT_RULE,
          next_scale: str | None = None) -> dict:
    """One scorecard row. next_scale: for a claim this run did not reproduce, the scale that
    would settle it (what we measured that points there, or the paper's scale); kept only then."""
    row = {"claim": name, "paper": paper, "ours": ours, "verdict": result, "rule": rule}
    if result != REPRODUCED and next_scale:
        row["next_scale"] = next_scale
    return row


def settle_with(claims: list[dict], next_scale: str) -> list[dict]:
    """Give every claim not reproduced that has no `next_scale` of its own this one."""
    for c in claims:
        if c["verdict"] != REPRODUCED and not c.get("next_scale"):
            c["next_scale"] = next_scale
    return claims


def claims_markdown(claims: list[dict], with_rule: bool = False) -> str:
    """The notebook's verdict lines: claim, the paper's statement, our number, the verdict, and
    for a claim not reproduced the scale that would settle it."""
    return "\n".join(f"- **{c['claim']}** — paper: {c['paper']}; ours: {c['ours']} → **{c['verdict']}**"
                     + (f" ({c['rule']})" if with_rule else "")
                     + (f". *Would settle it:* {c['next_scale']}" if c.get("next_scale") else "")
                     for c in claims)


def scale_note(profile: str, ours: str, paper: str) -> str:
    """One markdown line: the scale this notebook ran at, and the paper's."""
    return f"**Scale.** This run ({profile} profile): {ours}. The paper: {paper}."


# ---------------------------------------------------------------------- results files
def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_metrics(out_dir: str | Path, details: dict, headline: dict | None = None) -> Path:
    """results/<notebook>/metrics.json: the few flat headline numbers the verdicts use (what
    `dvc metrics show` prints); details.json beside it: everything, claims included.
    NaN/inf are written as null."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "details.json").write_text(json.dumps(_clean(details), indent=2) + "\n")
    flat = {k: v for k, v in (headline or {}).items() if not isinstance(v, (dict, list))}
    if details.get("claims"):
        flat["claims_reproduced"] = sum(c["verdict"] == REPRODUCED for c in details["claims"])
        flat["claims_total"] = len(details["claims"])
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(_clean(flat), indent=2) + "\n")
    return path


# ---------------------------------------------------------------------- the scorecard
SCORECARD_COLUMNS = ["notebook", "profile", "claim", "paper", "ours", "verdict", "rule", "next_scale"]


def gather_claims(results_root: str | Path, skip: str = "99_scorecard") -> list[dict]:
    """Every claim of every results/<notebook>/details.json, one dict each (notebook, profile, claim...)."""
    rows = []
    for path in sorted(Path(results_root).glob("*/details.json")):
        if path.parent.name == skip:
            continue
        m = json.loads(path.read_text())
        for c in m.get("claims", []):
            rows.append(dict(notebook=path.parent.name, profile=m.get("profile"), **c))
    return rows


def _cell(text) -> str:
    """A markdown table cell: a bare | would end the cell (and, in nbconvert, drop the table)."""
    return str(text).replace("\\|", "|").replace("|", "\\|").replace("\n", " ")


def scorecard_markdown(rows: list[dict]) -> str:
    """The claims table, then what would settle each claim not reproduced."""
    card = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    md = "| notebook | claim | paper | ours | verdict |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {_cell(r.notebook)} | {_cell(r.claim)} | {_cell(r.paper)} | {_cell(r.ours)} | **{_cell(r.verdict)}** |"
        for r in card.itertuples())
    unsettled = card[card.verdict != REPRODUCED]
    if len(unsettled):
        md += "\n\n**Not reproduced at this scale, and what would settle each:**\n\n" + "\n".join(
            f"- {r.notebook} — {r.claim} (**{r.verdict}**): "
            + (r.next_scale if isinstance(r.next_scale, str) else "not stated") for r in unsettled.itertuples())
    return md


__all__ = ["NOT_REPRODUCED", "REPRODUCED", "UNRESOLVED", "VERDICT_RULE", "claim", "claims_markdown", "gather_claims",
           "instability", "mean_std", "scale_note", "scorecard_markdown", "settle_with", "spearman", "summarize",
           "verdict", "write_metrics"]
