"""The scorecard's later looks (wgan_repro.looks): which measurement counts as the same claim re-run
with more seeds, and what the scorecard shows of it."""
import json

from wgan_repro import claims as C, scorecard as S, looks


def _details(path, seeds, iterations=500, claims=()):
    path.mkdir(parents=True)
    (path / "details.json").write_text(json.dumps({"profile": "quick", "iterations": iterations, "seeds": seeds,
                                                   "claims": list(claims)}))


def _claim(verdict, p, n=3):
    return {"claim": "GP trains well with Adam", "paper": "p", "ours": "o", "verdict": verdict, "item": "WGAN §3",
            "stats": {"n": [n, n], "p": p, "diff": -1.0, "ci95": [-2.0, -0.1], "test": "welch"}}


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
    assert len(table) == 1 and table[0].count(" | ") == 7  # eight cells
    assert "**not resolved at this scale**" in table[0]  # the first look's verdict stays
    assert "n = 5 vs 5, p = 0.014: reproduced (passes Pocock's two-look p < 0.0294)" in table[0]


def test_a_later_look_above_the_two_look_boundary_says_so():
    look = looks.second_look(_claim(C.UNRESOLVED, 0.2), _claim(C.REPRODUCED, 0.04, n=5), "results/m/04")
    assert not look["passes_pocock"]
    assert "(fails Pocock's two-look p < 0.0294)" in looks.second_look_text(look)
    assert looks.second_look_text(None) == ""
    no_test = looks.second_look({"verdict": C.REPRODUCED}, {"verdict": C.REPRODUCED}, "results/m/05", seeds=5)
    assert looks.second_look_text(no_test).startswith("n = 5 seeds: reproduced (by the rule stated with the claim")


def test_a_later_look_under_an_earlier_declaration_is_not_counted():
    """A precondition declared after a measurement ran: its verdict is shown, never counted as a look at the claim."""
    claim = {"claim": "x", "verdict": C.UNRESOLVED, "precondition": {"what": "samples are images", "holds": False}}
    old = {"claim": "x", "verdict": C.REPRODUCED, "stats": {"p": 0.001, "n": [5, 5]}}
    look = looks.second_look(claim, old, "results/measurements/x")
    assert look["changed"] is False and "samples are images" in look["declaration_changed"]
    assert "under an earlier declaration" in looks.second_look_text(look)
    same = looks.second_look({**claim, "verdict": C.REPRODUCED, "precondition": None}, old, "m")
    assert "declaration_changed" not in same
