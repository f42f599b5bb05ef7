"""The scorecard: every notebook's claims gathered from results/*/details.json, the one family they are
corrected in (Holm over the primary claims decided by a p-value), and the tables that docs/scorecard.md,
README's results at a glance and notebook 99 show.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from .claims import (ALPHA, AT_INIT, CLOSED_FORM, NOT_COUNTED, NOT_REPRODUCED, P_RULE_PREFIX, PRIMARY, REPRODUCED,
                     SECONDARY, UNRESOLVED,
                     _cell, _test_label)


# ---------------------------------------------------------------------- one family
FAMILY_RULE = ("Holm's step-down correction over the scorecard's primary family: every primary claim decided by a "
               "two-arm test's p (Welch or paired t) on a counted look (looks.py); a claim's verdict stands when its "
               "Holm-adjusted p is below its look's Pocock boundary (0.0294 for each of two planned looks), else it "
               "is not resolved at this scale. Secondary claims (another readout of a primary claim's data) and "
               "claims decided by a CI or a rule of their own are outside the family. Holm declared 2026-12-02 after "
               "the earlier looks' data; with the look plans (declared before the data of seeds 20 and up)")


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1), in the input's order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    m, adjusted, running = len(p_values), [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def in_family(row: dict) -> bool:
    """A primary claim decided by a two-arm test's p: a rule that opens as VERDICT_RULE and PAIRED_RULE do
    (P_RULE_PREFIX; a study may add a condition, e.g. 00's saturated discriminator)."""
    p = (row.get("stats") or {}).get("p") if isinstance(row.get("stats"), dict) else None
    return (row.get("family", PRIMARY) == PRIMARY and str(row.get("rule", "")).startswith(P_RULE_PREFIX)
            and row.get("verdict") not in NOT_COUNTED and (row.get("look") or {}).get("counted", False)
            and isinstance(p, (int, float)) and math.isfinite(p) and row.get("precondition", {}).get("holds", True))


def apply_family(rows: list[dict]) -> list[dict]:
    """FAMILY_RULE over the scorecard's rows: each row in the family gets `p_holm`; a verdict whose adjusted p
    is not below its look's boundary becomes not resolved at this scale, its first-look verdict kept as
    `verdict_unadjusted`."""
    members = [r for r in rows if in_family(r)]
    for r, p in zip(members, holm([r["stats"]["p"] for r in members])):
        r["p_holm"], r["family_size"] = p, len(members)
        if r["verdict"] in (REPRODUCED, NOT_REPRODUCED) and not p < r["look"].get("boundary", ALPHA):
            r["verdict_unadjusted"], r["verdict"] = r["verdict"], UNRESOLVED
            r.setdefault("next_scale", f"more seeds: its p = {r['stats']['p']:.2g} does not survive Holm's correction "
                                       f"over the family of {len(members)} (adjusted p = {p:.2g}); a later look on new "
                                       "seeds would settle it")
    return rows


# ---------------------------------------------------------------------- the scorecard
SCORECARD_COLUMNS = ["notebook", "profile", "id", "item", "claim", "paper", "ours", "verdict", "rule", "next_scale",
                     "stats", "second_look", "family", "precondition", "p_holm", "family_size", "verdict_unadjusted",
                     "look", "verdict_as_computed", "paper_profile"]


def gather_claims(results_root: str | Path, skip: str = "99_scorecard") -> list[dict]:
    """Every claim of every results/<notebook>/details.json, one dict each (notebook, profile, claim...)."""
    rows = []
    for path in sorted(Path(results_root).glob("*/details.json")):
        if path.parent.name == skip or path.parent.name.startswith("."):  # a render being swapped in
            continue
        m = json.loads(path.read_text())
        for c in m.get("claims", []):
            row = dict(notebook=path.parent.name, profile=m.get("profile"), **c)
            if not isinstance(row.get("look"), dict) and row["verdict"] not in (*NOT_COUNTED, UNRESOLVED):
                # rendered before declarations were recorded with the results: shown, not counted
                row["verdict_as_computed"], row["verdict"] = row["verdict"], UNRESOLVED
                row["next_scale"] = ("its render predates the recorded declarations (looks.py); re-rendering it on "
                                     "its plan's seeds decides: " + str(row.get("next_scale") or ""))
            rows.append(row)
    return rows


def scorecard_markdown(rows: list[dict]) -> str:
    """The claims table (with each claim's later look at more seeds, `looks.add_second_looks`), then
    what would settle each claim not reproduced."""
    from .looks import look_text, second_look_text

    card = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)

    def test(r) -> str:
        c = r.stats if isinstance(r.stats, dict) else None
        p = (c or {}).get("p")
        pre = r.precondition if isinstance(r.precondition, dict) else None
        failed = f"precondition failed: {pre['what']} ({pre['measured']}); " if pre and not pre["holds"] else ""
        if not isinstance(p, (int, float)) or not math.isfinite(p):
            return failed + (c or {}).get("why", "rule stated with the claim")
        lo, hi = c["ci95"]
        text = f"{_test_label(c)} p = {c['p']:.2g}; 95% CI of Δ [{lo:.3g}, {hi:.3g}]; n = {c['n'][0]} vs {c['n'][1]}"
        if "margin" in c:  # a non-inferiority verdict: the CI against the allowed deficit decides, not p
            text = f"non-inferiority to {c['comparator']} (allowed deficit {c['margin']:.3g}): " + text
        if isinstance(r.p_holm, (int, float)) and math.isfinite(r.p_holm):
            text += f"; Holm p = {r.p_holm:.2g} (family of {int(r.family_size)})"
            if isinstance(r.verdict_unadjusted, str):
                text += f", {r.verdict_unadjusted} before Holm"
        elif r.family == SECONDARY:
            text += "; secondary (outside the Holm family)"
        return failed + text

    counts = card.verdict.value_counts()
    order = (REPRODUCED, UNRESOLVED, NOT_REPRODUCED, CLOSED_FORM, AT_INIT)
    summary = f"{len(card)} claims: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in order) + ".\n\n"
    in_holm = card.p_holm.map(lambda x: isinstance(x, (int, float)) and math.isfinite(x))
    if in_holm.any():
        demoted = card[card.verdict_unadjusted.map(lambda x: isinstance(x, str))]
        summary += (f"One family: {int(in_holm.sum())} primary claims decided by a p-value, Holm-corrected (the test "
                    f"column's Holm p decides); {len(demoted)} verdict{'s' if len(demoted) != 1 else ''} "
                    "became not resolved under the correction. " + FAMILY_RULE + ".\n\n")
    looked = card.second_look.map(lambda x: isinstance(x, dict))
    if looked.any():
        changed = card[looked & card.second_look.map(lambda x: isinstance(x, dict) and x["changed"])]
        summary += (f"Later looks: {int(looked.sum())} claims re-run with more seeds in committed measurements (last "
                    f"column; the verdict column keeps the first look's); {len(changed)} changed verdict"
                    + "".join(f"; {r.notebook}: {r.claim}" for r in changed.itertuples()) + ".\n\n")
    counted = card.look.map(lambda x: isinstance(x, dict) and bool(x.get("counted")))
    summary += (f"Looks: {int(counted.sum())} of {len(card)} verdicts come from a look their declaration planned, on "
                "seeds no earlier look had used (looks.py); the rest are shown as computed and not counted (look "
                "column).\n\n")

    def verdict(r) -> str:
        was = r.verdict_as_computed if isinstance(r.verdict_as_computed, str) else None
        return f"**{_cell(r.verdict)}**" + (f" (as computed: {_cell(was)})" if was and was != r.verdict else "")

    head = (summary + "| notebook | id | paper item | claim | paper | ours | test | look | verdict | later look (more "
            "seeds) | paper profile (GPU) |\n")
    md = head + "|---" * 11 + "|\n" + "\n".join(
        f"| {_cell(r.notebook)} | {_cell(r.id if isinstance(r.id, str) else '')} | "
        f"{_cell(r.item if isinstance(r.item, str) else '')} | {_cell(r.claim)} | "
        f"{_cell(r.paper)} | {_cell(r.ours)} | {_cell(test(r))} | {_cell(look_text(r._asdict()))} | {verdict(r)} | "
        f"{_cell(second_look_text(r.second_look))} | {_cell(paper_profile_text(r.paper_profile))} |"
        for r in card.itertuples())
    unsettled = card[~card.verdict.isin([REPRODUCED, *NOT_COUNTED])]
    if len(unsettled):
        md += "\n\n**Not reproduced at this scale, and what would settle each:**\n\n" + "\n".join(
            f"- {r.notebook} — {r.claim} (**{r.verdict}**): "
            + (r.next_scale if isinstance(r.next_scale, str) else "not stated") for r in unsettled.itertuples())
    return md


def paper_profile_claims(results_root: str | Path) -> dict[tuple[str, str], dict]:
    """{(notebook, claim id): the claim} of every results/paper/<notebook>/details.json, each with where it is
    and how far its runs got ("at", "seeds", "shown")."""
    found = {}
    for path in sorted(Path(results_root).glob("paper/*/details.json")):
        d = json.loads(path.read_text())
        at = max(d.get("scored_at_iterations") or [0])
        for c in d.get("claims", []):
            if c.get("id"):
                found[(path.parent.name, c["id"])] = {**c, "at": at, "seeds": len(d.get("seeds", [])),
                                                      "shown": f"results/paper/{path.parent.name}"}
    return found


def add_paper_profile(results_root: str | Path, rows: list[dict]) -> list[dict]:
    """`rows` with "paper_profile" set where the GPU paper-profile runs test the same declared claim (its id)."""
    found = paper_profile_claims(results_root)
    for row in rows:
        if (row["notebook"], row.get("id")) in found:
            row["paper_profile"] = found[(row["notebook"], row["id"])]
    return rows


def paper_profile_text(c) -> str:
    """'n = 12 vs 12, p = 3.5e-06: reproduced at 2,000 of 100k iterations (not counted) — results/paper/...'."""
    if not isinstance(c, dict):
        return ""
    stats = c.get("stats") if isinstance(c.get("stats"), dict) else {}
    n = f"n = {stats['n'][0]} vs {stats['n'][1]}" if stats.get("n") else f"n = {c['seeds']} seeds"
    p = f", p = {stats['p']:.2g}" if isinstance(stats.get("p"), (int, float)) and math.isfinite(stats["p"]) else ""
    return (f"{n}{p}: {c['verdict']} at {c['at']:,} of 100k iterations (GPU, no look plan: shown, not counted) — "
            f"{c['shown']}")


def paper_profile_evidence(results_root: str | Path) -> dict[str, str]:
    """{notebook: one line} for every results/paper/<notebook>/details.json (the GPU paper-profile runs)."""
    out = {}
    for path in sorted(Path(results_root).glob("paper/*/details.json")):
        d = json.loads(path.read_text())
        counts: dict[str, int] = {}
        for c in d.get("claims", []):
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        at = max(d.get("scored_at_iterations") or [0])
        seeds = len(d.get("seeds", []))
        out[path.parent.name] = (", ".join(f"{n} {v}" for v, n in counts.items())
                                 + f" (n = {seeds} seeds, {at:,} of 100k iterations, not Holm-corrected; "
                                 f"[details](results/paper/{path.parent.name}/claims.md))")
    return out


def glance_markdown(rows: list[dict], results_root: str | Path) -> str:
    """README's results at a glance: one row per paper item a notebook tests (its verdicts at the quick
    profile, with n; the paper-profile GPU evidence; its page), then three sentences from the counts."""
    from .coverage import PAPER_ITEMS

    gpu = paper_profile_evidence(results_root)
    lines = ["| paper item | what the paper shows | verdicts, quick profile (n seeds) | paper profile (GPU) | page |",
             "|---|---|---|---|---|"]
    for paper, item, what, notebook, _ in PAPER_ITEMS:
        if notebook is None:
            continue
        notebooks = [n.strip() for n in notebook.split(",")]  # an item two notebooks test: "02_..., 01_..."
        mine = [r for r in rows if item in (r.get("item") or "") and r.get("notebook") in notebooks]
        counts: dict[str, int] = {}
        for r in mine:
            counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        ns = sorted({n for r in mine if isinstance(r.get("stats"), dict) for n in (r["stats"].get("n") or [])})
        shown = ", ".join(f"{k} {v}" for v, k in counts.items()) or "figure only"
        if ns:
            shown += f" (n = {'–'.join(map(str, (ns[0], ns[-1]))) if ns[0] != ns[-1] else ns[0]})"
        short = " ".join(what.split()[:12]) + ("…" if len(what.split()) > 12 else "")
        label = item if item.startswith(paper) or paper not in ("WGAN", "WGAN-GP") else f"{paper} {item}"
        lines.append(f"| {_cell(label)} | {_cell(short)} | {_cell(shown)} | "
                     f"{gpu.get(notebooks[0], 'not run') if mine else ''} | "
                     + ", ".join(f"[{n[:2]}](results/{n}/{n}.html)" for n in notebooks) + " |")
    verdicts = [r["verdict"] for r in rows]
    n = {v: verdicts.count(v) for v in (REPRODUCED, NOT_REPRODUCED, UNRESOLVED, CLOSED_FORM, AT_INIT)}
    secondary = sum(r["verdict"] == REPRODUCED and r.get("family") == SECONDARY for r in rows)
    uncounted = sum(r["verdict"] == UNRESOLVED and not (r.get("look") or {}).get("counted") for r in rows)
    lines += ["", f"**Reproduced:** {n[REPRODUCED] - secondary} primary claims of {len(rows)} at the quick profile, "
              f"after Holm's correction over the primary family, and {secondary} secondary readouts (outside the "
              "family, uncorrected: our extensions or other readouts of a primary claim's data). "
              f"**Not reproduced:** {n[NOT_REPRODUCED]}. **Needs the papers' "
              f"scale:** {n[UNRESOLVED] - uncounted} claims are not resolved by the quick profile's short runs (each "
              f"names what would settle it in [the scorecard](docs/scorecard.md)). **Not counted:** "
              + (f"{uncounted} verdicts from renders that predate the recorded declarations, or from data their rule "
                 "had already seen (shown as computed in the scorecard); " if uncounted else "")
              + f"{n[CLOSED_FORM]} closed forms and {n[AT_INIT]} effects present at initialisation, shown, not "
              "counted."]
    return "\n".join(lines)


__all__ = ["FAMILY_RULE", "SCORECARD_COLUMNS", "apply_family", "gather_claims", "glance_markdown", "holm", "in_family",
           "add_paper_profile", "paper_profile_claims", "paper_profile_evidence", "paper_profile_text",
           "scorecard_markdown"]
