"""The decision layer: verdict rules, the statistics behind them, preconditions, claim rows and the
files a notebook's numbers are written to (the scorecard that gathers them: scorecard.py).

A claim quotes the paper, names our number and carries a verdict that follows from the numbers
by a rule stated next to it (`VERDICT_RULE` unless the notebook states its own).
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .looks import declare
from .verdicts import (AT_INIT, CLOSED_FORM, NOT_COUNTED, NOT_REPRODUCED, P_RULE_PREFIX, PRIMARY, REPRODUCED,
                       SECONDARY, UNRESOLVED)

ALPHA = 0.05
TEST = "Welch's t-test, two-sided"
_RULE = (P_RULE_PREFIX + "{test} gives p < 0.05; not "
         "reproduced when the opposite sign is significant at p < 0.05; otherwise not resolved at this scale")
VERDICT_RULE = _RULE.format(test="Welch's two-sided t-test over seeds")
PAIRED_RULE = _RULE.format(test="the paired two-sided t-test")


# ---------------------------------------------------------------------- verdicts and statistics
def sd(values) -> float:
    """Sample standard deviation (ddof = 1), the one convention of every reported spread; nan for n < 2."""
    v = np.asarray(values, float)
    return float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def mean_sd_text(values, digits: int = 2, scale: float = 1.0) -> str:
    """'12.34±5.67' (sample sd over seeds)."""
    v = np.asarray(values, float) * scale
    return f"{v.mean():.{digits}f}±{sd(v):.{digits}f}"


def compare_arms(better, worse, higher_is_better: bool = True, alpha: float = ALPHA, paired: bool = False) -> dict:
    """The paper says arm `better` beats arm `worse`: Welch's two-sided t-test over seeds (paired: the
    paired t-test, runs matched by position, e.g. the same architecture trained by both methods).

    Returns n, mean and sd (ddof = 1) per arm, the difference better - worse, its 95% confidence
    interval (Welch), p and the verdict of VERDICT_RULE. Fewer than 2 runs in an arm, or no spread in
    either, leaves the claim not resolved (a test is undefined).
    """
    from scipy import stats

    b, w = np.asarray(better, float), np.asarray(worse, float)
    out = {"test": "paired t-test, two-sided" if paired else TEST, "n": [len(b), len(w)],
           "mean": [float(b.mean()), float(w.mean())],
           "sd": [sd(b), sd(w)], "diff": float(b.mean() - w.mean()), "ci95": [float("nan")] * 2, "p": float("nan"),
           "higher_is_better": higher_is_better}
    if len(b) < 2 or len(w) < 2:
        return {**out, "verdict": UNRESOLVED, "why": "fewer than 2 runs in an arm: no test"}
    if (b.std() == 0 and w.std() == 0) or (paired and np.std(b - w) == 0):
        return {**out, "verdict": UNRESOLVED, "why": "no spread over seeds in either arm: the t-test is undefined"}
    with warnings.catch_warnings():  # one arm without spread (every seed covers all 25 modes): Welch's test
        # stands on the other arm's variance; scipy's precision warning about the constant arm adds nothing
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        res = stats.ttest_rel(b, w) if paired else stats.ttest_ind(b, w, equal_var=False)
        ci = res.confidence_interval(1 - alpha)
    out.update(p=float(res.pvalue), ci95=[float(ci.low), float(ci.high)])
    paper_sign = 1 if higher_is_better else -1
    if out["p"] < alpha:
        out["verdict"] = REPRODUCED if np.sign(out["diff"]) == paper_sign else NOT_REPRODUCED
    else:
        out["verdict"] = UNRESOLVED
    return out


def verdict(better: list[float], worse: list[float], higher_is_better: bool = True) -> str:
    """VERDICT_RULE's verdict for the arm the paper calls better against the other (`compare_arms`)."""
    return compare_arms(better, worse, higher_is_better)["verdict"]


def _test_label(c: dict) -> str:
    return "paired t" if c["test"].startswith("paired") else "Welch"


def stats_text(c: dict, digits: int = 2, scale: float = 1.0) -> str:
    """'n = 3 vs 3; Δ = -1.23 [95% CI -2.00, -0.40]; Welch p = 0.012' for a `compare_arms` result
    (or, when no test is defined, the reason)."""
    if "why" in c:
        return f"n = {c['n'][0]} vs {c['n'][1]}; Δ = {c['diff'] * scale:.{digits}f}; no test: {c['why']}"
    lo, hi = (x * scale for x in c["ci95"])
    return (f"n = {c['n'][0]} vs {c['n'][1]}; Δ = {c['diff'] * scale:.{digits}f} [95% CI {lo:.{digits}f}, "
            f"{hi:.{digits}f}]; {_test_label(c)} p = {c['p']:.2g}")


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def partial_spearman(x, y, z) -> tuple[float, float, int]:
    """Spearman correlation of x and y with the shared trend in z removed, whatever its shape: the
    Pearson correlation of the ranks of x and y after each rank has its mean at every value of z
    subtracted (runs compared with each other at equal z, e.g. at the same iteration). Returns
    (rho, p, n); p from the t distribution with n - k - 1 degrees of freedom, k distinct values of z
    (two-sided)."""
    from scipy import stats

    rx, ry = (stats.rankdata(np.asarray(v, float)) for v in (x, y))
    z = np.asarray(z)
    levels = np.unique(z)
    design = (z[:, None] == levels[None, :]).astype(float)  # one indicator per value of z

    def residual(r):
        return r - design @ np.linalg.lstsq(design, r, rcond=None)[0]

    ex, ey = residual(rx), residual(ry)
    n, df = len(rx), len(rx) - len(levels) - 1
    if df < 1 or ex.std() == 0 or ey.std() == 0:
        return float("nan"), float("nan"), n
    rho = float(np.corrcoef(ex, ey)[0, 1])
    t = rho * np.sqrt(df / max(1e-300, 1 - rho ** 2))
    return rho, float(2 * stats.t.sf(abs(t), df)), n


def partial_spearman_by_unit(x, y, z, unit) -> tuple[list[float], float]:
    """`partial_spearman`'s residual ranks (the trend in z removed), correlated within each unit (a seed): one
    rho per unit, and the one-sample t-test's two-sided p that their mean is 0. The units are the sample, not
    the pooled points."""
    from scipy import stats

    rx, ry = (stats.rankdata(np.asarray(v, float)) for v in (x, y))
    z, unit = np.asarray(z), np.asarray(unit)
    design = (z[:, None] == np.unique(z)[None, :]).astype(float)
    ex, ey = (r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry))
    rhos = [float(np.corrcoef(ex[unit == u], ey[unit == u])[0, 1]) for u in np.unique(unit)]
    p = float(stats.ttest_1samp(rhos, 0.0).pvalue) if len(rhos) > 1 and np.std(rhos) > 0 else float("nan")
    return rhos, p


def instability(history: list[dict], key: str = "wasserstein_estimate") -> float:
    """Mean absolute change of a logged curve between consecutive logs over its second half,
    relative to its mean absolute level: large when training oscillates (WGAN §4.2, Adam)."""
    values = np.asarray([row[key] for row in history], float)
    half = values[len(values) // 2:]
    if len(half) < 2:
        return float("nan")
    return float(np.abs(np.diff(half)).mean() / (np.abs(half).mean() + 1e-12))


def summarize(rows: pd.DataFrame, by: str, columns: list[str]) -> dict:
    """{variant: {col: {mean, std (ddof = 1), n, values}}} over seeds."""
    out = {}
    for name, group in rows.groupby(by, sort=False):
        out[name] = {c: {"mean": float(group[c].mean()), "std": sd(group[c]), "n": int(group[c].count()),
                         "values": [float(v) for v in group[c]]} for c in columns}
    return out


def mean_std(values, prefix: str, scale: float = 1.0, digits: int = 4) -> dict:
    """{prefix: mean, prefix_sd: sample sd} over seeds, rounded (headline metrics)."""
    v = np.asarray(values, float) * scale
    return {prefix: round(float(v.mean()), digits), f"{prefix}_sd": round(sd(v), digits)}


# ---------------------------------------------------------------------- claim rows
def precondition(what: str, holds: bool, measured: str) -> dict:
    """What must hold for a comparison to test the paper's sentence at this scale (e.g. the arms differ only
    in what the claim is about; every arm's samples are images), whether it holds, and what was measured."""
    return {"what": what, "holds": bool(holds), "measured": measured}


def claim(name: str, paper: str, ours: str, result: str, rule: str = VERDICT_RULE,
          next_scale: str | None = None, item: str | None = None, stats: dict | None = None,
          family: str = "primary", requires: dict | None = None, id: str | None = None) -> dict:
    """One scorecard row. item: the paper's figure/table/section it tests. stats: a `compare_arms`
    result (n, test, p, 95% CI). next_scale: for a claim this run did not reproduce, the scale that
    would settle it (what we measured that points there, or the paper's scale); kept only then.
    family: 'primary' (in the scorecard's Holm family, `apply_family`) or 'secondary' (another readout
    of a primary claim's data). requires: a `precondition`; when it fails the verdict is not resolved
    at this scale, whatever p says, and the row names the failed condition. id: '<notebook>.<name>', unique
    and stable, defined once in the claim's study (`looks.declare` records its declaration with the results)."""
    if family not in (PRIMARY, SECONDARY):
        raise ValueError(f"family={family!r} is not allowed: primary or secondary")
    if requires is not None and not requires["holds"] and result not in NOT_COUNTED:
        result = UNRESOLVED
    row = {"claim": name, "paper": paper, "ours": ours, "verdict": result, "rule": rule}
    if id:
        row = {"id": id, **row}
    if family != PRIMARY:
        row["family"] = family
    if requires is not None:
        row["precondition"] = requires
    if item:
        row["item"] = item
    if stats:
        row["stats"] = stats
    if result not in (REPRODUCED, *NOT_COUNTED) and next_scale:
        row["next_scale"] = next_scale
    return row


AT_INIT_RULE = (VERDICT_RULE + " after training; but when the same comparison at initialisation (before any "
                "training step{clamp}) already has the paper's sign with p < 0.05, the effect is present at "
                "initialisation: shown and labelled so, not counted as training's")


def trained_vs_init_claim(name: str, paper: str, what: str, trained: tuple[tuple[str, list], tuple[str, list]],
                          init: tuple[list, list], higher_is_better: bool = True, item: str | None = None,
                          digits: int = 2, family: str = "primary", clamp: str = "", id: str | None = None) -> dict:
    """A comparative claim read after training and at initialisation: `trained` = ((better, values),
    (worse, values)) after training, `init` = (better values, worse values) of the same arms before it.
    AT_INIT_RULE decides; the row shows both readings (stats: after training; stats_init: at initialisation)."""
    (b_name, b), (w_name, w) = trained
    after, before = compare_arms(b, w, higher_is_better), compare_arms(init[0], init[1], higher_is_better)
    at_init = before["verdict"] == REPRODUCED
    ours = (f"{what}: after training {b_name} {mean_sd_text(b, digits)}, {w_name} {mean_sd_text(w, digits)} "
            f"({stats_text(after, digits)}); at initialisation {mean_sd_text(init[0], digits)} vs "
            f"{mean_sd_text(init[1], digits)} ({stats_text(before, digits)})")
    row = claim(name, paper, ours, AT_INIT if at_init else after["verdict"],
                AT_INIT_RULE.format(clamp=clamp), item=item, stats=after, family=family, id=id)
    row["stats_init"] = before
    return row


def compared_claim(name: str, paper: str, what: str, better: tuple[str, list], worse: tuple[str, list],
                   higher_is_better: bool = True, item: str | None = None, digits: int = 2, scale: float = 1.0,
                   note: str = "", next_scale: str | None = None, paired: bool = False, family: str = "primary",
                   requires: dict | None = None, id: str | None = None) -> dict:
    """A comparative claim decided by VERDICT_RULE: our text names both arms' mean ± sd (ddof = 1),
    n, the difference with its 95% CI, and Welch's p (family, requires: as `claim`)."""
    c = compare_arms(better[1], worse[1], higher_is_better, paired=paired)
    ours = (f"{what}: {better[0]} {mean_sd_text(better[1], digits, scale)}, {worse[0]} "
            f"{mean_sd_text(worse[1], digits, scale)} ({stats_text(c, digits, scale)})" + (f" {note}" if note else ""))
    return claim(name, paper, ours, c["verdict"], PAIRED_RULE if paired else VERDICT_RULE, next_scale, item, c,
                 family=family, requires=requires, id=id)


NONINFERIOR_RULE = ("reproduced when the recommended arm is at most {margin:.0%} worse than the best other arm (by "
                    "mean): the 95% CI (Welch) of their difference excludes a larger deficit; not reproduced when "
                    "the whole CI lies beyond that deficit; otherwise not resolved at this scale")


def noninferior_claim(name: str, paper: str, what: str, arm: tuple[str, list], others: dict[str, list],
                      higher_is_better: bool = True, margin: float = 0.1, item: str | None = None, digits: int = 2,
                      scale: float = 1.0, next_scale: str | None = None, requires: dict | None = None,
                      id: str | None = None) -> dict:
    """The paper says arm `arm` "works well": a non-inferiority test against the best of `others` (the
    hardest comparator, chosen by mean). The allowed deficit is `margin` times that arm's |mean|.
    requires: a `precondition` (as `claim`)."""
    sign = 1 if higher_is_better else -1
    best = max(others, key=lambda k: sign * float(np.mean(others[k])))
    c = compare_arms(arm[1], others[best], higher_is_better)
    allowed = margin * abs(float(np.mean(others[best])))
    lo, hi = sorted(sign * x for x in c["ci95"])  # the CI of (arm - best), signed so that > 0 is better
    if not (math.isfinite(lo) and math.isfinite(hi)):
        result = UNRESOLVED
    else:
        result = REPRODUCED if lo > -allowed else NOT_REPRODUCED if hi < -allowed else UNRESOLVED
    c = {**c, "verdict": result, "test": f"non-inferiority, margin {margin:.0%} (Welch's 95% CI)",
         "margin": allowed, "comparator": best}
    ours = (f"{what}: {arm[0]} {mean_sd_text(arm[1], digits, scale)}, best other ({best}) "
            f"{mean_sd_text(others[best], digits, scale)} ({stats_text(c, digits, scale)}; "
            f"allowed deficit {allowed * scale:.{digits}g})")
    return claim(name, paper, ours, result, NONINFERIOR_RULE.format(margin=margin), next_scale, item, c,
                 requires=requires, id=id)


SUCCESS_RULE = ("per threshold, the architectures only one method trained below it, paired by architecture, and the "
                "exact McNemar test on them; reproduced when the paper's method wins with p < 0.05 at most thresholds, "
                "not reproduced when the other does at any, otherwise not resolved at this scale")


def success_count_claim(name: str, paper: str, arms: tuple[str, str], success: dict[float, tuple[list, list]],
                        item: str | None = None, next_scale: str | None = None, id: str | None = None) -> dict:
    """WGAN-GP Table 2's comparison: success[threshold] = (arm A succeeded?, arm B succeeded?) per
    architecture. The paper says A trains more of them (`SUCCESS_RULE`)."""
    from scipy.stats import binomtest

    rows = []
    for t, (a, b) in success.items():
        only = [sum(x and not y for x, y in zip(a, b)), sum(y and not x for x, y in zip(a, b))]
        p = binomtest(only[0], sum(only)).pvalue if sum(only) else float("nan")
        k, d = len(a), only[0] - only[1]  # 95% CI of the paired difference of success shares (Wald)
        half = 1.96 * math.sqrt(max(0.0, sum(only) - d * d / k)) / k
        rows.append({"threshold": t, "only": only, "both": sum(x and y for x, y in zip(a, b)), "p": p,
                     "ci95": [d / k - half, d / k + half]})
    wins = sum(r["p"] < ALPHA and r["only"][0] > r["only"][1] for r in rows)
    result = (NOT_REPRODUCED if any(r["p"] < ALPHA and r["only"][1] > r["only"][0] for r in rows)
              else REPRODUCED if wins > len(rows) / 2 else UNRESOLVED)
    n = len(next(iter(success.values()))[0])
    ours = "; ".join(f"below {r['threshold']:g}: only {arms[0]} {r['only'][0]}, only {arms[1]} {r['only'][1]}, both "
                     f"{r['both']}" + (f" (McNemar p = {r['p']:.2g}; share difference 95% CI [{r['ci95'][0]:.2f}, "
                                       f"{r['ci95'][1]:.2f}])" if sum(r["only"]) else "") for r in rows)
    stats = {"test": "exact McNemar per threshold", "n": [n, n], "thresholds": rows,
             "why": f"exact McNemar per threshold (n = {n} architectures; see the claim)"}
    return claim(name, paper, f"{ours} (n = {n} architectures)", result, SUCCESS_RULE, next_scale, item, stats, id=id)


def settle_with(claims: list[dict], next_scale: str) -> list[dict]:
    """Give every claim not reproduced that has no `next_scale` of its own this one."""
    for c in claims:
        if c["verdict"] not in (REPRODUCED, *NOT_COUNTED) and not c.get("next_scale"):
            c["next_scale"] = next_scale
    return claims


def claims_markdown(claims: list[dict], with_rule: bool = False) -> str:
    """The notebook's verdict lines: claim (and the paper item it tests), the paper's statement, our
    number, the verdict, and for a claim not reproduced the scale that would settle it."""
    return "\n".join(f"- **{c['claim']}**" + (f" [{c['item']}]" if c.get("item") else "")
                     + f" — paper: {c['paper']}; ours: {c['ours']} → **{c['verdict']}**"
                     + (f" ({c['rule']})" if with_rule else "")
                     + (f". *Would settle it:* {c['next_scale']}" if c.get("next_scale") else "")
                     for c in claims)


def unmet_preconditions_markdown(claims: list[dict]) -> str:
    """One paragraph per distinct precondition that failed: what it requires and what was measured."""
    unmet = dict.fromkeys((c["precondition"]["what"], c["precondition"]["measured"]) for c in claims
                          if c.get("precondition") and not c["precondition"]["holds"])
    return "".join(f"\n\n**Precondition not met:** {w} (measured: {m}); the claims that need it are not resolved at "
                   "this scale." for w, m in unmet)


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


def write_metrics(out_dir: str | Path, details: dict, headline: dict | None = None, declared: bool = True) -> Path:
    """results/<notebook>/metrics.json: the few flat headline numbers the verdicts use (what
    `dvc metrics show` prints); details.json beside it: everything, claims included, each with its
    declaration and look recorded (`looks.declare`: a verdict outside the look plan is not counted; declared=False
    for files that gather claims decided elsewhere: the scorecard, the GPU records' page). NaN/inf are written as
    null."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if declared and details.get("claims"):
        declare(details, out_dir)
    (out_dir / "details.json").write_text(json.dumps(_clean(details), indent=2) + "\n")
    flat = {k: v for k, v in (headline or {}).items() if not isinstance(v, (dict, list))}
    if details.get("claims"):
        flat["claims_reproduced"] = sum(c["verdict"] == REPRODUCED for c in details["claims"])
        flat["claims_total"] = len(details["claims"])
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(_clean(flat), indent=2) + "\n")
    return path


# ---------------------------------------------------------------------- markdown
def _cell(text) -> str:
    """A markdown table cell: a bare | would end the cell (and, in nbconvert, drop the table)."""
    return str(text).replace("\\|", "|").replace("|", "\\|").replace("\n", " ")


__all__ = ["AT_INIT", "AT_INIT_RULE", "CLOSED_FORM", "NONINFERIOR_RULE", "NOT_COUNTED", "NOT_REPRODUCED", "PAIRED_RULE",
           "PRIMARY", "P_RULE_PREFIX", "REPRODUCED", "SECONDARY", "SUCCESS_RULE", "UNRESOLVED", "VERDICT_RULE", "claim",
           "claims_markdown", "compare_arms", "compared_claim", "instability", "mean_sd_text", "mean_std",
           "noninferior_claim", "partial_spearman", "partial_spearman_by_unit", "precondition", "scale_note", "sd",
           "settle_with", "spearman", "stats_text", "success_count_claim", "summarize", "trained_vs_init_claim",
           "unmet_preconditions_markdown", "verdict", "write_metrics"]
