"""Later looks at a pipeline claim: the same notebook re-run with more seeds as a committed measurement
(results/measurements/**/<notebook>/details.json).

The scorecard keeps the pipeline's verdict (the first look's). The measurement's
verdict stands beside it as a second look. Its seeds were added after the first verdict was
published, so a second-look "reproduced" also has to pass Pocock's per-look boundary for two looks,
the boundary this project uses wherever seeds arrive in looks (benchmarks/score_paper_03.py).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

# Pocock (1977): the per-look p boundary that keeps the overall false-positive rate at 5% over K looks
POCOCK = {1: 0.05, 2: 0.0294, 3: 0.0221, 4: 0.0182, 5: 0.0158}


def _settings(details: dict) -> dict:
    return {k: v for k, v in details.items() if k != "seeds" and isinstance(v, (str, int, float, bool))}


def same_run_with_more_seeds(pipeline: dict, measurement: dict) -> bool:
    """The measurement's details record the pipeline's settings (every scalar field both record, seeds
    aside) and a strict superset of its seeds."""
    mine, theirs = _settings(pipeline), _settings(measurement)
    shared = set(mine) & set(theirs)
    return (all(mine[k] == theirs[k] for k in shared) and "iterations" in shared
            and set(pipeline.get("seeds", [])) < set(measurement.get("seeds", [])))


def second_look(claim: dict, measurement_claim: dict, shown: str, seeds: int | None = None) -> dict:
    """What the scorecard shows beside `claim` from the same claim in a measurement at `shown` (`seeds`:
    how many it ran, for claims whose statistic is not a two-arm test)."""
    stats = measurement_claim.get("stats") if isinstance(measurement_claim.get("stats"), dict) else {}
    p = stats.get("p")
    look = {"measurement": shown, "verdict": measurement_claim["verdict"], "n": stats.get("n"), "p": p,
            "seeds": seeds, "pocock_boundary": POCOCK[2]}
    if isinstance(p, (int, float)) and math.isfinite(p):
        look["passes_pocock"] = p < POCOCK[2]
    declared = (claim.get("precondition") or {}).get("what"), (measurement_claim.get("precondition") or {}).get("what")
    if declared[0] != declared[1]:  # the claim's declaration (its precondition) came after this look's data
        look["declaration_changed"] = f"its precondition ({declared[0] or 'none'}) is not the one this look ran under"
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
        measurement = json.loads(path.read_text())
        if not same_run_with_more_seeds(json.loads(pipeline.read_text()), measurement):
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


__all__ = ["POCOCK", "add_second_looks", "same_run_with_more_seeds", "second_look", "second_look_text"]
