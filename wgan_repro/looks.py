"""Look accounting, in one place: each claim's declaration recorded with the results it judged, the look
plan it was declared under, and the later looks the scorecard shows beside a verdict.

A claim's *declaration* is what decides it before any number is read: its id, the paper's sentence and item,
its rule's text, its precondition, its family and its notebook's look plan. `declare` (run by
`claims.write_metrics` for every render) stores the declaration's digest in each claim row, with the date it was
first recorded and the seeds whose data had already been committed for that notebook then (`seen_seeds`).
A verdict counts only when its seeds are one of the plan's looks and none of them had been seen when its
declaration was recorded; otherwise it is shown as computed and not resolved ("declared after the data" until a
look on new seeds). Each look is judged at Pocock's boundary for the plan's K looks, the first included; the
scorecard adds Holm over the primary family on top (scorecard.py).

The measurements (results/measurements/**/<notebook>/details.json) re-ran a notebook with more seeds; they are
shown beside the verdict as later looks, and as looks under an earlier declaration where theirs differs.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .verdicts import NOT_COUNTED, NOT_REPRODUCED, P_RULE_PREFIX, REPRODUCED, UNRESOLVED

# Pocock (1977): the per-look p boundary that keeps the overall false-positive rate at 5% over K looks
POCOCK = {1: 0.05, 2: 0.0294, 3: 0.0221, 4: 0.0182, 5: 0.0158}
RESULTS = Path(__file__).resolve().parents[1] / "results"  # the committed results (every evidence tree)


@dataclass(frozen=True)
class Plan:
    """A notebook's look plan: the seeds of each look, in order, declared before any of them ran. Every look is
    judged at Pocock's boundary for len(looks) looks."""

    looks: tuple[tuple[int, ...], ...]

    @property
    def boundary(self) -> float:
        return POCOCK[len(self.looks)]

    def look(self, seeds) -> int | None:
        """1-based index of the look these seeds are, or None when they are not one of the plan's looks."""
        return next((k for k, look in enumerate(self.looks, 1) if tuple(sorted(seeds)) == tuple(sorted(look))), None)


def _seeds(first: int, n: int) -> tuple[int, ...]:
    return tuple(range(first, first + n))


# Declared 2026-12-02 (git shows the commit), before any of these seeds ran for its notebook: seeds 0-5 of every
# notebook had been looked at under earlier rules. Look 1 is the quick profile (params.yaml); look 2, new seeds
# again, is a measurement (`wgan-repro run-notebook <nb> -p seeds '[...]' --results results/measurements/look2`).
PLANS: dict[tuple[str, str], Plan] = {
    ("00_divergences", "quick"): Plan((_seeds(20, 5), _seeds(25, 5))),
    ("01_toy_mode_collapse", "quick"): Plan((_seeds(20, 3), _seeds(23, 5))),
    ("02_generator_architectures", "quick"): Plan((_seeds(20, 3), _seeds(23, 5))),
    ("03_clipping_vs_gp", "quick"): Plan((_seeds(20, 3), _seeds(23, 5))),
    ("04_rmsprop_vs_adam", "quick"): Plan((_seeds(20, 3), _seeds(23, 5))),
    ("05_meaningful_loss", "quick"): Plan((_seeds(20, 3), _seeds(23, 5))),
    ("06_vanishing_gradients", "quick"): Plan((_seeds(20, 5), _seeds(25, 5))),
    ("07_overfitting", "quick"): Plan((_seeds(20, 3), _seeds(23, 5))),
    ("08_penalty_ablations", "quick"): Plan((_seeds(20, 5), _seeds(25, 5))),
    ("09_random_architectures", "quick"): Plan(((20,), (21,))),
}
DECLARED = ("id", "claim", "paper", "item", "rule", "family")  # with the precondition's text and the plan


def digest(row: dict, plan: Plan | None) -> str:
    """sha256 (12 hex digits) of a claim's declaration: DECLARED fields, the precondition's text (not what was
    measured) and the look plan."""
    content = {k: row.get(k, "primary" if k == "family" else None) for k in DECLARED}
    content["precondition"] = (row.get("precondition") or {}).get("what")
    content["plan"] = [list(look) for look in plan.looks] if plan else None
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def _committed(notebook: str, roots) -> list[dict]:
    """Every committed details.json of `notebook` below `roots` (pipeline, measurements, paper), read."""
    found = []
    for root in dict.fromkeys(Path(r).resolve() for r in roots if Path(r).is_dir()):
        for path in sorted(root.rglob(f"{notebook}/details.json")):
            if any(part.startswith(".render-") for part in path.parts):  # a render being swapped in
                continue
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
    return found


def declare(details: dict, out_dir: str | Path, today: str | None = None) -> dict:
    """Record each claim's declaration with `details` (a notebook's details.json, claims with ids), and decide
    whether its verdict counts: see the module's docstring. Returns `details`, its claims updated."""
    out_dir = Path(out_dir)
    notebook = out_dir.name
    # a render's folder: results_root/.render-*/<notebook> (run-notebook) or results_root/<notebook>
    root = out_dir.parent.parent if out_dir.parent.name.startswith(".render-") else out_dir.parent
    plan = PLANS.get((notebook, details.get("profile")))
    earlier = _committed(notebook, [RESULTS, root])
    seen = sorted({int(s) for d in earlier for s in d.get("seeds", []) or []})
    recorded: dict[tuple[str, str], dict] = {}  # (id, declaration) -> its earliest record
    for d in earlier:
        for c in d.get("claims", []):
            look = c.get("look")
            if isinstance(look, dict) and c.get("id") and look.get("declaration"):
                key = (c["id"], look["declaration"])
                if key not in recorded or look["recorded"] < recorded[key]["recorded"]:
                    recorded[key] = look
    today = today or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    ids = [c.get("id") for c in details.get("claims", [])]
    missing = [c["claim"] for c in details.get("claims", []) if not c.get("id")]
    if missing:
        raise ValueError(f"claim {missing[0]!r} of {notebook} has no id: every claim is declared with one")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{notebook}: claim ids are not unique: {sorted(i for i in ids if ids.count(i) > 1)}")
    for c in details.get("claims", []):
        seeds = [int(x) for x in c.get("seeds", details.get("seeds", []))]  # a claim may read other runs' data
        d = digest(c, plan)
        before = recorded.get((c["id"], d))
        if before:  # the same declaration: keep when it was recorded and what had been seen then
            look = {"declaration": d, "recorded": before["recorded"], "seen_seeds": before["seen_seeds"]}
        else:  # recorded now: every seed already committed for this notebook has been seen
            look = {"declaration": d, "recorded": today, "seen_seeds": seen}
        k = plan.look(seeds) if plan else None
        after_data = sorted(set(seeds) & set(look["seen_seeds"]))
        look.update(plan=[list(x) for x in plan.looks] if plan else None, k=k, of=len(plan.looks) if plan else None,
                    boundary=plan.boundary if plan else None)
        if c["verdict"] in NOT_COUNTED:
            look["counted"] = False  # shown, labelled by its own verdict
        elif after_data:
            look["counted"] = False
            look["why"] = (f"declared after the data: seeds {after_data} had been looked at when this declaration "
                           f"was recorded ({look['recorded']}); a look on new seeds decides")
        elif plan is None or k is None:
            look["counted"] = False
            look["why"] = (f"seeds {seeds} are not a look of this notebook's plan"
                           + (f" (looks: {[list(x) for x in plan.looks]})" if plan else
                              f" (no look plan for the {details.get('profile')} profile): an exploratory render"))
        else:
            look["counted"] = True
            p = (c.get("stats") or {}).get("p") if isinstance(c.get("stats"), dict) else None
            if (str(c.get("rule", "")).startswith(P_RULE_PREFIX) and c["verdict"] in (REPRODUCED, NOT_REPRODUCED)
                    and isinstance(p, (int, float)) and math.isfinite(p) and not p < plan.boundary):
                look["why"] = (f"p = {p:.2g} is not below Pocock's boundary {plan.boundary} for look {k} of "
                               f"{len(plan.looks)}")
                c["verdict_as_computed"], c["verdict"] = c["verdict"], UNRESOLVED
        if not look["counted"] and c["verdict"] not in (*NOT_COUNTED, UNRESOLVED):
            c["verdict_as_computed"], c["verdict"] = c["verdict"], UNRESOLVED
        if look.get("why") and c["verdict"] == UNRESOLVED:
            c["next_scale"] = (f"{look['why']}: " + c["next_scale"]) if c.get("next_scale") else look["why"]
        c["look"] = look
    return details


def look_text(row: dict) -> str:
    """'look 1 of 2 (seeds 20-22), Pocock p < 0.0294; declared 2026-12-02 (a1b2c3d4e5f6)', or why it is not counted."""
    look = row.get("look")
    if not isinstance(look, dict):
        return "no declaration recorded with these results (rendered before declarations were recorded)"
    if look.get("k"):
        seeds = (look.get("plan") or [[]])[look["k"] - 1]
        span = f" (seeds {seeds[0]}-{seeds[-1]})" if len(seeds) > 1 else f" (seed {seeds[0]})" if seeds else ""
        head = f"look {look['k']} of {look['of']}{span}, Pocock p < {look['boundary']}"
    else:
        head = "not a planned look"
    if look.get("recorded"):
        head += f"; declared {look['recorded']} ({look.get('declaration')})"
    return head + (f"; not counted: {look['why']}" if not look.get("counted") and look.get("why") else "")


def _settings(details: dict) -> dict:
    return {k: v for k, v in details.items() if k != "seeds" and isinstance(v, (str, int, float, bool))}


def same_run_with_more_seeds(pipeline: dict, measurement: dict, plan: Plan | None = None) -> bool:
    """The measurement's details record the pipeline's settings (every scalar field both record, seeds
    aside) and either a strict superset of its seeds or a later look of the plan (its next seeds)."""
    mine, theirs = _settings(pipeline), _settings(measurement)
    shared = set(mine) & set(theirs)
    if not (all(mine[k] == theirs[k] for k in shared) and "iterations" in shared):
        return False
    ours, later = set(pipeline.get("seeds", [])), set(measurement.get("seeds", []))
    k_ours, k_later = (plan.look(ours), plan.look(later)) if plan else (None, None)
    return ours < later or (k_ours is not None and k_later is not None and k_later > k_ours)


def second_look(claim: dict, measurement_claim: dict, shown: str, seeds: int | None = None) -> dict:
    """What the scorecard shows beside `claim` from the same claim in a measurement at `shown` (`seeds`:
    how many it ran, for claims whose statistic is not a two-arm test)."""
    stats = measurement_claim.get("stats") if isinstance(measurement_claim.get("stats"), dict) else {}
    p = stats.get("p")
    boundary = (claim.get("look") or {}).get("boundary") or POCOCK[2]  # the plan's (two looks where there is none)
    look = {"measurement": shown, "verdict": measurement_claim["verdict"], "n": stats.get("n"), "p": p,
            "seeds": seeds, "pocock_boundary": boundary}
    if isinstance(p, (int, float)) and math.isfinite(p):
        look["passes_pocock"] = p < POCOCK[2]
    mine = (claim.get("look") or {}).get("declaration")
    theirs = (measurement_claim.get("look") or {}).get("declaration")
    if not mine or mine != theirs:  # this look ran under another declaration (or before they were recorded)
        look["declaration_changed"] = (f"its declaration ({mine or 'not recorded'}) is not the one this look ran "
                                       f"under ({theirs or 'not recorded'})")
    look["changed"] = measurement_claim["verdict"] != claim["verdict"] and "declaration_changed" not in look
    return look


def add_second_looks(results_root: str | Path, rows: list[dict]) -> list[dict]:
    """`rows` (claims.gather_claims) with "second_look" set where a measurement re-ran the claim's
    notebook with the pipeline's settings and more seeds and states the same claim."""
    root = Path(results_root)
    found: dict[tuple[str, str], tuple[dict, str]] = {}
    for path in sorted((root / "measurements").rglob("details.json")):
        pipeline = root / path.parent.name / "details.json"
        if not pipeline.is_file():
            continue
        measurement, first = json.loads(path.read_text()), json.loads(pipeline.read_text())
        if not same_run_with_more_seeds(first, measurement, PLANS.get((path.parent.name, first.get("profile")))):
            continue
        shown = str(Path(root.name) / path.parent.relative_to(root))
        for c in measurement.get("claims", []):
            found.setdefault((path.parent.name, c["claim"]), (c, shown, len(measurement["seeds"])))
    for row in rows:
        if (row["notebook"], row["claim"]) in found:
            row["second_look"] = second_look(row, *found[(row["notebook"], row["claim"])])
    return rows


def second_look_text(look: dict | None) -> str:
    """'n = 5 vs 5, p = 0.014: reproduced (passes Pocock's two-look p < 0.0294)', or '' without a look."""
    if not isinstance(look, dict):
        return ""
    n = f"n = {look['n'][0]} vs {look['n'][1]}" if look.get("n") else f"n = {look.get('seeds')} seeds"
    p = f", p = {look['p']:.2g}" if isinstance(look.get("p"), (int, float)) and math.isfinite(look["p"]) else ""
    text = f"{n}{p}: {look['verdict']}"
    if look.get("declaration_changed"):
        return (text + f" under an earlier declaration ({look['declaration_changed']}): not a look at this claim "
                f"as declared — {look['measurement']}")
    if look["verdict"] == "reproduced" and "passes_pocock" in look:
        passes = "passes" if look["passes_pocock"] else "fails"
        text += f" ({passes} Pocock's two-look p < {look['pocock_boundary']})"
    elif look["verdict"] == "reproduced":
        text += " (by the rule stated with the claim, which has no p for Pocock's boundary)"
    return text + f" — {look['measurement']}"


__all__ = ["PLANS", "POCOCK", "Plan", "add_second_looks", "declare", "digest", "look_text",
           "same_run_with_more_seeds", "second_look", "second_look_text"]
