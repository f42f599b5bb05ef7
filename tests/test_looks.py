"""The scorecard's later looks (wgan_repro.looks): which measurement counts as the same claim re-run
with more seeds, and what the scorecard shows of it."""
import json

from wgan_repro import claims as C, scorecard as S, looks


def _details(path, seeds, iterations=500, claims=()):
    path.mkdir(parents=True)
    (path / "details.json").write_text(json.dumps({"profile": "quick", "iterations": iterations, "seeds": seeds,
                                                   "claims": list(claims)}))


def _claim(verdict, p, n=3, declaration="a1b2c3"):
    return {"claim": "GP trains well with Adam", "paper": "p", "ours": "o", "verdict": verdict, "item": "WGAN §3",
            "stats": {"n": [n, n], "p": p, "diff": -1.0, "ci95": [-2.0, -0.1], "test": "welch"},
            "look": {"declaration": declaration, "recorded": "2026-12-02", "seen_seeds": [], "counted": True}}


def test_a_measurement_counts_only_with_the_pipeline_settings_and_more_seeds():
    assert looks.same_run_with_more_seeds({"iterations": 500, "seeds": [0, 1, 2]},
                                          {"iterations": 500, "seeds": [0, 1, 2, 3, 4]})
    assert not looks.same_run_with_more_seeds({"iterations": 500, "seeds": [0, 1, 2]},
                                              {"iterations": 2000, "seeds": [0, 1, 2, 3, 4]})
    assert not looks.same_run_with_more_seeds({"iterations": 500, "seeds": [0, 1, 2]},
                                              {"iterations": 500, "seeds": [0, 1, 2]})
    assert not looks.same_run_with_more_seeds({"iterations": 500, "seeds": [0, 1, 2]},
                                              {"iterations": 500, "seeds": [3, 4, 5, 6]})


def test_the_scorecard_shows_a_changed_later_look_beside_the_first_verdict(tmp_path):
    root = tmp_path / "results"
    _details(root / "04_rmsprop_vs_adam", [0, 1, 2], claims=[_claim(C.UNRESOLVED, 0.15)])
    _details(root / "measurements" / "seeds_0-4" / "04_rmsprop_vs_adam", [0, 1, 2, 3, 4],
             claims=[_claim(C.REPRODUCED, 0.014, n=5)])
    _details(root / "measurements" / "long" / "04_rmsprop_vs_adam", [0, 1, 2, 3, 4], iterations=2000,
             claims=[_claim(C.NOT_REPRODUCED, 0.001, n=5)])  # another scale: not a later look
    rows = looks.add_second_looks(root, S.gather_claims(root))
    (row,) = rows
    look = row["second_look"]
    assert look["measurement"] == "results/measurements/seeds_0-4/04_rmsprop_vs_adam"
    assert look["changed"] and look["passes_pocock"] and look["n"] == [5, 5]
    md = S.scorecard_markdown(rows)
    assert "1 changed verdict; 04_rmsprop_vs_adam: GP trains well with Adam" in md
    table = [line for line in md.splitlines() if line.startswith("| 04_")]
    assert len(table) == 1 and table[0].count(" | ") == 10  # eleven cells (the last: the paper profile, empty here)
    assert "**not resolved at this scale**" in table[0]  # the first look's verdict stays
    assert "n = 5 vs 5, p = 0.014: reproduced (passes Pocock's two-look p < 0.0294)" in table[0]


def test_a_later_look_above_the_two_look_boundary_says_so():
    look = looks.second_look(_claim(C.UNRESOLVED, 0.2), _claim(C.REPRODUCED, 0.04, n=5), "results/m/04")
    assert not look["passes_pocock"]
    assert "(fails Pocock's two-look p < 0.0294)" in looks.second_look_text(look)
    assert looks.second_look_text(None) == ""
    same = {"look": {"declaration": "a1b2c3"}}
    no_test = looks.second_look({"verdict": C.REPRODUCED, **same}, {"verdict": C.REPRODUCED, **same}, "results/m/05",
                                seeds=5)
    assert looks.second_look_text(no_test).startswith("n = 5 seeds: reproduced (by the rule stated with the claim")


def test_a_later_look_under_an_earlier_declaration_is_not_counted():
    """A declaration changed after a measurement ran (or one recorded before declarations were): its verdict is
    shown, never counted as a look at the claim."""
    claim = {**_claim(C.UNRESOLVED, 0.2), "precondition": {"what": "samples are images", "holds": False}}
    old = _claim(C.REPRODUCED, 0.001, n=5, declaration="0ld0ld")
    look = looks.second_look(claim, old, "results/measurements/x")
    assert look["changed"] is False and "0ld0ld" in look["declaration_changed"]
    assert "under an earlier declaration" in looks.second_look_text(look)
    unrecorded = looks.second_look(claim, {k: v for k, v in old.items() if k != "look"}, "m")
    assert "not recorded" in unrecorded["declaration_changed"]
    same = looks.second_look(claim, _claim(C.REPRODUCED, 0.001, n=5), "m")
    assert "declaration_changed" not in same


# ---------------------------------------------------------------------- declarations and look plans
PLAN = looks.Plan(((20, 21, 22), (23, 24, 25, 26, 27)))


def _render(root, seeds, claims, monkeypatch, today="2026-12-02", profile="quick"):
    """What claims.write_metrics records: a render of a notebook with a look plan into root/<notebook>."""
    monkeypatch.setattr(looks, "RESULTS", root)
    monkeypatch.setitem(looks.PLANS, ("04_rmsprop_vs_adam", "quick"), PLAN)
    details = {"profile": profile, "seeds": seeds, "claims": [dict(c) for c in claims]}
    looks.declare(details, root / "04_rmsprop_vs_adam", today=today)
    (root / "04_rmsprop_vs_adam").mkdir(parents=True, exist_ok=True)
    (root / "04_rmsprop_vs_adam" / "details.json").write_text(json.dumps(details))
    return details["claims"]


def _decided(p=0.01, rule=C.VERDICT_RULE, **kw):
    return {"id": "04.x", "claim": "RMSProp beats Adam", "paper": "§3", "item": "WGAN §3", "rule": rule,
            "verdict": C.REPRODUCED, "stats": {"p": p, "n": [3, 3], "ci95": [0.1, 0.2]}, **kw}


def test_a_declaration_recorded_before_its_seeds_ran_counts_at_pococks_boundary(tmp_path, monkeypatch):
    root = tmp_path / "results"
    _details(root / "04_rmsprop_vs_adam", [0, 1, 2])  # an earlier look, before any declaration was recorded
    (row,) = _render(root, [20, 21, 22], [_decided(0.01)], monkeypatch)
    look = row["look"]
    assert look["counted"] and look["k"] == 1 and look["of"] == 2 and look["boundary"] == 0.0294
    assert look["seen_seeds"] == [0, 1, 2] and look["declaration"] == looks.digest(row, PLAN)
    assert row["verdict"] == C.REPRODUCED
    # p = 0.04 would pass a single look's 0.05, not Pocock's boundary for two looks
    (row,) = _render(tmp_path / "other", [20, 21, 22], [_decided(0.04)], monkeypatch)
    assert row["verdict"] == C.UNRESOLVED and row["verdict_as_computed"] == C.REPRODUCED
    assert "Pocock's boundary 0.0294 for look 1 of 2" in row["next_scale"]


def test_the_same_declaration_keeps_its_record_and_a_changed_one_is_after_the_data(tmp_path, monkeypatch):
    root = tmp_path / "results"
    _details(root / "04_rmsprop_vs_adam", [0, 1, 2])
    first = _render(root, [20, 21, 22], [_decided()], monkeypatch)[0]["look"]
    again = _render(root, [20, 21, 22], [_decided()], monkeypatch, today="2026-12-09")[0]
    assert again["look"]["recorded"] == "2026-12-02" and again["look"]["counted"]  # a re-render of the same look
    changed = _render(root, [20, 21, 22], [_decided(rule=C.PAIRED_RULE)], monkeypatch, today="2026-12-09")[0]
    assert changed["look"]["declaration"] != first["declaration"] and not changed["look"]["counted"]
    assert changed["verdict"] == C.UNRESOLVED and changed["verdict_as_computed"] == C.REPRODUCED
    assert "declared after the data: seeds [20, 21, 22]" in changed["next_scale"]
    # the changed declaration counts again at its plan's next look, on new seeds
    later = _render(root, [23, 24, 25, 26, 27], [_decided(rule=C.PAIRED_RULE)], monkeypatch, today="2026-12-09")[0]
    assert later["look"]["counted"] and later["look"]["k"] == 2 and later["verdict"] == C.REPRODUCED


def test_seeds_outside_the_plan_and_profiles_without_one_are_exploratory(tmp_path, monkeypatch):
    root = tmp_path / "results"
    (row,) = _render(root, [0, 1, 2, 3, 4], [_decided()], monkeypatch)
    assert not row["look"]["counted"] and row["verdict"] == C.UNRESOLVED and "not a look" in row["next_scale"]
    (row,) = _render(tmp_path / "t", [0], [_decided()], monkeypatch, profile="tiny")
    assert "an exploratory render" in row["look"]["why"]
    closed = _render(tmp_path / "c", [20, 21, 22], [_decided(verdict=C.CLOSED_FORM)], monkeypatch)[0]
    assert closed["verdict"] == C.CLOSED_FORM and not closed["look"]["counted"]


def test_every_claim_needs_a_unique_id(tmp_path, monkeypatch):
    import pytest

    with pytest.raises(ValueError, match="has no id"):
        _render(tmp_path, [20, 21, 22], [{**_decided(), "id": None}], monkeypatch)
    with pytest.raises(ValueError, match="not unique"):
        _render(tmp_path, [20, 21, 22], [_decided(), _decided()], monkeypatch)


def test_a_claim_reading_other_runs_is_judged_by_their_seeds(tmp_path, monkeypatch):
    root = tmp_path / "results"
    _details(root / "measurements" / "04_rmsprop_vs_adam", [0, 1, 2])  # the long runs a claim reads
    (row,) = _render(root, [20, 21, 22], [_decided(seeds=[0, 1, 2])], monkeypatch)
    assert not row["look"]["counted"] and "seeds [0, 1, 2] had been looked at" in row["look"]["why"]


# ---------------------------------------------------------------------- the committed results
def _pipeline_details():
    from tests.conftest import REPO

    for path in sorted((REPO / "results").glob("[0-9][0-9]_*/details.json")):
        if path.parent.name != "99_scorecard":
            yield path.parent.name, json.loads(path.read_text())


def test_every_committed_verdict_carries_the_declaration_it_was_decided_under():
    """Each claim of each pipeline render has an id, a recorded declaration whose digest is the one its own
    fields and its notebook's plan give (so the rule text shown is the rule applied), and a look."""
    seen = {}
    for notebook, details in _pipeline_details():
        plan = looks.PLANS.get((notebook, details["profile"]))
        assert plan is not None and plan.look(details["seeds"]) == 1, (notebook, details["seeds"])
        for c in details["claims"]:
            assert c["id"].startswith(notebook[:2] + "."), c["id"]
            assert c["id"] not in seen, c["id"]
            seen[c["id"]] = notebook
            assert c["look"]["declaration"] == looks.digest(c, plan), c["id"]
            assert set(c["look"]["seen_seeds"]).isdisjoint(c.get("seeds", details["seeds"])) == c["look"]["counted"] \
                or c["verdict"] in C.NOT_COUNTED, c["id"]
    assert len(seen) >= 19


def test_each_claim_id_is_defined_in_its_study_and_nowhere_else_in_the_library():
    from tests.conftest import REPO

    sources = {p: p.read_text() for p in (REPO / "wgan_repro").rglob("*.py")}
    for notebook, details in _pipeline_details():
        for c in details["claims"]:
            if "id" not in c:
                continue
            stem = c["id"]
            while stem and not any(stem in text for text in sources.values()):
                stem = stem[:-1]  # an id built in a loop (01.fig1b_c{c}): its literal part
            assert len(stem) > 6, c["id"]
            homes = [p.name for p, text in sources.items() if stem in text]
            assert len(homes) == 1 and homes[0] != "__init__.py", (c["id"], homes)


def test_the_plans_next_look_is_a_later_look_and_earlier_seeds_are_not():
    first = {"iterations": 500, "seeds": [20, 21, 22]}
    assert looks.same_run_with_more_seeds(first, {"iterations": 500, "seeds": [23, 24, 25, 26, 27]}, PLAN)
    assert not looks.same_run_with_more_seeds(first, {"iterations": 500, "seeds": [0, 1, 2, 3, 4]}, PLAN)
    assert not looks.same_run_with_more_seeds(first, {"iterations": 900, "seeds": [23, 24, 25, 26, 27]}, PLAN)
