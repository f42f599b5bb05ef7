"""The decision layer: verdict rules, statistics, claim rows and the scorecard table."""
import json
import math

import numpy as np
import pytest
from scipy import stats

from tests.conftest import REPO
from wgan_repro import claims as C, scorecard as S, coverage


def test_sd_is_the_sample_standard_deviation():
    assert C.sd([1.0, 2.0, 3.0]) == pytest.approx(1.0)  # ddof = 1 (ddof = 0 would be 0.816)
    assert math.isnan(C.sd([1.0]))
    assert C.mean_std([1, 2, 3], "x") == {"x": 2.0, "x_sd": 1.0}


def test_compare_arms_is_welchs_test_with_its_confidence_interval():
    better, worse = [5.0, 6.0, 7.5, 6.2], [3.0, 4.1, 3.3]
    c = C.compare_arms(better, worse)
    ref = stats.ttest_ind(better, worse, equal_var=False)
    assert c["p"] == pytest.approx(ref.pvalue) and c["n"] == [4, 3]
    assert c["ci95"] == pytest.approx(list(ref.confidence_interval(0.95)))
    assert c["diff"] == pytest.approx(np.mean(better) - np.mean(worse))
    assert c["sd"] == pytest.approx([np.std(better, ddof=1), np.std(worse, ddof=1)])
    assert c["verdict"] == C.REPRODUCED and c["p"] < 0.05


def test_the_verdict_needs_the_papers_sign_and_significance():
    assert C.verdict([3.0, 4.1, 3.3], [5.0, 6.0, 7.5]) == C.NOT_REPRODUCED          # significant, wrong sign
    assert C.verdict([1.0, 2.0, 3.0], [1.5, 2.5, 2.0]) == C.UNRESOLVED              # noise vs noise
    assert C.verdict([1.0, 1.1, 0.9], [5.0, 5.2, 4.9], higher_is_better=False) == C.REPRODUCED  # lower is better
    # the old rule (gap > sum of the ddof=0 sds) called this reproduced at Welch p = 0.075: not any more
    b, w = [10.0, 12.0, 16.0], [7.0, 9.0, 6.0]
    assert np.mean(b) - np.mean(w) > np.std(b) + np.std(w)
    assert C.compare_arms(b, w)["p"] == pytest.approx(0.0751, abs=1e-4) and C.verdict(b, w) == C.UNRESOLVED


def test_too_few_runs_or_no_spread_is_never_a_verdict():
    assert C.compare_arms([1.0], [0.0, 0.1])["verdict"] == C.UNRESOLVED
    c = C.compare_arms([2.0, 2.0], [1.0, 1.0])
    assert c["verdict"] == C.UNRESOLVED and "no spread" in c["why"]


def test_a_compared_claim_states_n_sd_ci_and_p():
    row = C.compared_claim("A beats B", "A > B", "score", ("A", [5.0, 6.0, 7.0]), ("B", [1.0, 2.0, 3.0]),
                           item="Fig. 9")
    assert row["verdict"] == C.REPRODUCED and row["item"] == "Fig. 9"
    assert "A 6.00±1.00" in row["ours"] and "n = 3 vs 3" in row["ours"] and "95% CI" in row["ours"]
    assert "Welch p = " in row["ours"] and row["stats"]["test"] == C.TEST


def test_non_inferiority_decides_by_the_ci_against_the_allowed_deficit():
    others = {"lam=1": [0.50, 0.52, 0.48], "lam=0.1": [0.30, 0.31, 0.29]}   # the best other: lam=1 (mean 0.5)
    tied = C.noninferior_claim("ok", "works well", "score", ("lam=10", [0.49, 0.51, 0.50]), others)
    assert tied["verdict"] == C.REPRODUCED and tied["stats"]["comparator"] == "lam=1"   # CI within -0.05
    assert tied["stats"]["margin"] == pytest.approx(0.05)
    worse = C.noninferior_claim("bad", "works well", "score", ("lam=10", [0.30, 0.31, 0.29]), others)
    assert worse["verdict"] == C.NOT_REPRODUCED                                          # CI entirely below -0.05
    noisy = C.noninferior_claim("?", "works well", "score", ("lam=10", [0.2, 0.5, 0.8]), others)
    assert noisy["verdict"] == C.UNRESOLVED                                              # noise: never reproduced
    # lower is better (KID): the best other is the lowest mean, a deficit is a higher value
    kid = C.noninferior_claim("kid", "works well", "KID", ("lam=10", [1.0, 1.02, 0.98]),
                              {"a": [1.0, 1.01, 0.99], "b": [3.0, 3.1, 2.9]}, higher_is_better=False)
    assert kid["verdict"] == C.REPRODUCED and kid["stats"]["comparator"] == "a"
    assert C.noninferior_claim("k", "w", "KID", ("x", [1.5, 1.52, 1.48]), {"a": [1.0, 1.01, 0.99]},
                               higher_is_better=False)["verdict"] == C.NOT_REPRODUCED
    assert "non-inferiority" in S.scorecard_markdown([dict(notebook="08", profile="quick", **tied)])


def test_the_scorecard_escapes_bars_and_renders_every_row():
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    rows = [dict(notebook="00", profile="quick", **C.claim("Parallel lines", "W=|θ|, JS=log 2", "W(0.5)=0.5",
                                                             C.CLOSED_FORM)),
            dict(notebook="01", profile="quick", **C.compared_claim("x", "|d f/dx| small", "|log10 g|",
                                                                      ("a", [1.0, 2.0, 3.0]), ("b", [0.0, 0.5, 0.2])))]
    html = markdown2html_mistune(S.scorecard_markdown(rows))
    assert html.count("<table") == 1 and html.count("<tr") == 3  # header + 2 rows
    assert "W=|θ|" in html


def test_the_committed_scorecard_html_shows_its_whole_table():
    """results/99_scorecard/99_scorecard.html: nbconvert dropped the table when a cell held a bare |."""
    card = REPO / "results" / "99_scorecard"
    rows = json.loads((card / "details.json").read_text())["claims"]
    html = (card / "99_scorecard.html").read_text()
    assert html.count("<table") >= 1
    table = html[html.index("<table"):html.index("</table>")]
    assert table.count("<tr") == len(rows) + 1


def test_partial_spearman_removes_a_shared_time_trend_of_any_shape():
    rng = np.random.default_rng(0)
    t = np.repeat(np.arange(10.0), 4)                                  # 4 runs at each of 10 iterations
    trend = np.exp(-t / 2)                                             # curved, as training curves are
    x, y = trend + rng.normal(0, 0.01, 40), trend + rng.normal(0, 0.01, 40)  # both only trend with time
    assert C.spearman(x, y) > 0.9
    rho, p, n = C.partial_spearman(x, y, t)
    assert n == 40 and abs(rho) < 0.4 and p > 0.05
    shared = rng.normal(0, 0.05, 40)                                   # a real link beyond the trend
    rho, p, _ = C.partial_spearman(trend + shared, trend + shared + rng.normal(0, 0.01, 40), t)
    assert rho > 0.8 and p < 0.001


def test_every_committed_claim_names_a_paper_item_and_every_item_a_notebook():
    rows = S.gather_claims(REPO / "results")
    assert rows and coverage.uncovered_items(rows) == []
    notebooks = {p.stem for p in (REPO / "notebooks").glob("*.ipynb")}
    for paper, item, what, notebook, why in coverage.PAPER_ITEMS:
        assert all(n.strip() in notebooks for n in notebook.split(",")) if notebook else len(why) > 20, item
    table = coverage.coverage_markdown(rows)
    assert table.count("\n") == len(coverage.PAPER_ITEMS) + 1 and "not covered" in table


def test_a_paired_comparison_matches_runs_by_position():
    better, worse = [1.0, 5.0, 9.0, 3.0], [1.5, 5.6, 9.4, 3.7]   # every pair differs by about -0.5
    c = C.compare_arms(better, worse, higher_is_better=False, paired=True)
    ref = stats.ttest_rel(better, worse)
    assert c["p"] == pytest.approx(ref.pvalue) and c["verdict"] == C.REPRODUCED and c["test"].startswith("paired")
    assert c["ci95"] == pytest.approx(list(ref.confidence_interval(0.95)))
    assert C.compare_arms(better, worse, higher_is_better=False)["verdict"] == C.UNRESOLVED   # unpaired: noise
    row = C.compared_claim("x", "y", "KID", ("a", better), ("b", worse), higher_is_better=False, paired=True)
    assert "paired t p = " in row["ours"] and "paired" in row["rule"]


def test_the_25_gaussian_coverage_curve_names_the_scale_that_would_settle_the_claim():
    from wgan_repro.experiments import coverage_verdict_scale

    rows = [dict(variant="WGAN-GP", seed=s, iteration=it, modes_covered=m)
            for s, curve in ((0, [5, 21, 24]), (1, [3, 12, 22])) for it, m in zip((1000, 2000, 3000), curve)]
    rows += [dict(variant="GAN", seed=0, iteration=it, modes_covered=25) for it in (1000, 2000, 3000)]  # not read
    out = coverage_verdict_scale(rows, [0, 1], 1000, 3000, 4.0, "the curve")
    assert out["reached"] == {0: 2000, 1: 3000} and out["final"] == [24, 22]
    assert "≥ 3000 generator iterations" in out["settle"] and "4.0 at 1000" in out["settle"]
    short = coverage_verdict_scale([r for r in rows if r["iteration"] <= 2000], [0, 1], 1000, 2000, 4.0, "the curve")
    assert short["reached"][1] is None and "> 2000" in short["settle"] and "not within 2000" in short["reach_text"]


def test_the_long_25_gaussian_claims_count_modes_within_3_sigma_and_need_the_same_optimizer():
    from wgan_repro.studies.toy_mode_collapse import long_coverage_claims

    rows = []
    for seed in range(3):
        for it in (1000, 2000, 3000, 4000, 5000):
            rows += [dict(variant="WGAN-GP", seed=seed, iteration=it, critic_updates=5 * it, modes_reached=25,
                          modes_covered=15 + seed, high_quality_rate=0.5 + 0.01 * seed),
                     dict(variant="GAN", seed=seed, iteration=it, critic_updates=it, modes_reached=3 + seed % 2,
                          modes_covered=1 + seed % 2, high_quality_rate=0.1),
                     # a diffuse cloud: every mode reached, none covered within 3 sigma
                     dict(variant="WGAN (clip)", seed=seed, iteration=it, critic_updates=5 * it, modes_reached=25,
                          modes_covered=seed % 2, high_quality_rate=0.6 + 0.01 * seed)]
    differ = C.precondition("same optimiser", False, "RMSProp vs Adam")
    gp, clip, tight, equal = long_coverage_claims(rows, 5000, "the test", differ)
    assert "5,000 generator iterations" in gp["claim"] and gp["verdict"] == C.REPRODUCED
    assert "WGAN-GP 16.0±1.0" in gp["ours"] and "n = 3 vs 3" in gp["ours"] and "the test)" in gp["ours"]
    assert clip["verdict"] != C.REPRODUCED and "In no experiment" in clip["paper"]  # 25 reached does not count
    assert tight["verdict"] == C.UNRESOLVED and not tight["precondition"]["holds"]  # optimisers differ
    # the GAN's 5,000 discriminator steps are WGAN-GP's first 1,000 generator iterations; the same runs: secondary
    assert "5,000 updates: WGAN-GP at 1,000, GAN at 5,000" in equal["claim"] and equal["family"] == C.SECONDARY


def test_an_effect_present_at_initialisation_is_labelled_so_and_not_counted():
    trained = (("clip", [1.1, 1.12, 1.1]), ("GP", [0.01, 0.012, 0.011]))
    there = C.trained_vs_init_claim("x", "y", "|slope|", trained, ([1.1, 1.12, 1.1], [0.39, 0.38, 0.4]),
                                    higher_is_better=True)
    assert there["verdict"] == C.AT_INIT and there["stats_init"]["p"] < 0.05 and "at initialisation" in there["ours"]
    new = C.trained_vs_init_claim("x", "y", "|slope|", trained, ([0.39, 0.38, 0.41], [0.39, 0.38, 0.4]))
    assert new["verdict"] == C.REPRODUCED and new["rule"].startswith(C.P_RULE_PREFIX)
    from wgan_repro.scorecard import in_family

    for row in (new, there):
        row["look"] = {"counted": True, "boundary": 0.05}
    assert in_family(new) and not in_family(there)


def test_table2s_success_count_uses_the_exact_mcnemar_test_per_threshold():
    a = [True] * 7 + [False]          # WGAN-GP trained 7 of 8 architectures below the threshold
    b = [False] * 7 + [False]         # the GAN none: 7 discordant pairs, all one way, p = 2 * 0.5**7
    row = C.success_count_claim("x", "y", ("WGAN-GP", "GAN"), {1.0: (a, b), 2.0: (a, b)})
    assert row["verdict"] == C.REPRODUCED and row["stats"]["thresholds"][0]["p"] == pytest.approx(2 * 0.5 ** 7)
    assert "only WGAN-GP 7, only GAN 0" in row["ours"] and "n = 8 architectures" in row["ours"]
    lo, hi = row["stats"]["thresholds"][0]["ci95"]     # the share difference 7/8, its paired Wald CI
    assert lo < 7 / 8 < hi and hi - lo == pytest.approx(2 * 1.96 * math.sqrt(7 - 49 / 8) / 8)
    none = [False] * 8
    assert C.success_count_claim("x", "y", ("A", "B"), {1.0: (none, none)})["verdict"] == C.UNRESOLVED  # none trained
    assert C.success_count_claim("x", "y", ("A", "B"), {1.0: (b, a)})["verdict"] == C.NOT_REPRODUCED
    few = [True, False, False, False]
    assert C.success_count_claim("x", "y", ("A", "B"), {1.0: (few, [False] * 4)})["verdict"] == C.UNRESOLVED


def test_an_arm_without_spread_is_still_tested_by_the_other_arms_variance_and_warns_nothing():
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would land in a rendered notebook
        c = C.compare_arms([25, 25, 25], [22, 23, 22])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = stats.ttest_ind([25, 25, 25], [22, 23, 22], equal_var=False).pvalue
    assert c["p"] == pytest.approx(reference)
    assert c["verdict"] == C.REPRODUCED and c["sd"][0] == 0


# ---------------------------------------------------------------------- one family, preconditions (issue 29)
def test_holm_adjusts_step_down_and_keeps_the_input_order():
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone
    assert S.holm([]) == []


def _row(p, verdict=C.REPRODUCED, **kw):
    return {"claim": f"p={p}", "verdict": verdict, "rule": C.VERDICT_RULE,
            "stats": {"p": p, "ci95": [0.1, 0.2], "n": [3, 3], "test": C.TEST},
            "look": {"counted": True, "boundary": 0.05}, **kw}  # a counted look of a one-look plan


def test_the_family_demotes_what_holm_does_not_carry_and_leaves_the_rest():
    rows = [_row(0.001), _row(0.02), _row(0.03), _row(0.04, family=C.SECONDARY),
            {"claim": "closed", "verdict": C.CLOSED_FORM, "rule": "exact"},
            _row(0.2, verdict=C.UNRESOLVED)]
    S.apply_family(rows)
    assert [round(r["p_holm"], 6) if "p_holm" in r else None for r in rows] == [0.004, 0.06, 0.06, None, None, 0.2]
    assert [r["verdict"] for r in rows] == [C.REPRODUCED, C.UNRESOLVED, C.UNRESOLVED, C.REPRODUCED, C.CLOSED_FORM,
                                            C.UNRESOLVED]
    assert rows[1]["verdict_unadjusted"] == C.REPRODUCED and "verdict_unadjusted" not in rows[0]
    assert "Holm" in rows[1]["next_scale"] and "next_scale" not in rows[0]  # a demoted claim says what would settle it
    assert rows[0]["family_size"] == 4  # the secondary claim and the closed form are outside the family
    table = S.scorecard_markdown(rows)
    assert "Holm p = 0.06 (family of 4), reproduced before Holm" in table and "secondary (outside" in table


def test_a_failed_precondition_leaves_the_claim_not_resolved_whatever_p_says():
    pre = C.precondition("the arms differ only in the Lipschitz method", False, "optimisers differ: Adam vs RMSProp")
    row = C.compared_claim("GP beats clipping", "paper", "KID", ("GP", [1.0, 1.1, 0.9]), ("clip", [5.0, 5.2, 4.9]),
                           higher_is_better=False, requires=pre)
    assert row["stats"]["p"] < 0.001 and row["verdict"] == C.UNRESOLVED
    assert row["precondition"]["holds"] is False
    S.apply_family([row])
    assert "p_holm" not in row  # a comparison that does not test the sentence is not in the family
    assert "precondition failed: the arms differ only in the Lipschitz method" in S.scorecard_markdown([row])
    held = C.compared_claim("x", "paper", "KID", ("a", [1.0, 1.1, 0.9]), ("b", [5.0, 5.2, 4.9]),
                            higher_is_better=False, requires=C.precondition("same optimiser", True, "both RMSProp"))
    assert held["verdict"] == C.REPRODUCED
    with pytest.raises(ValueError, match="family='tertiary'"):
        C.claim("x", "p", "o", C.REPRODUCED, family="tertiary")


def test_a_non_inferiority_claim_takes_a_precondition_too():
    pre = C.precondition("the compared arms converged", False, "λ=10 3–4 of 8 modes")
    row = C.noninferior_claim("λ = 10 works well", "paper", "W1", ("λ=10", [1.0, 1.1, 0.9]),
                              {"λ=0.1": [5.0, 5.1, 4.9]}, higher_is_better=False, requires=pre)
    assert row["verdict"] == C.UNRESOLVED and row["precondition"] == pre  # it would be 'reproduced' without it
    free = C.noninferior_claim("λ = 10 works well", "paper", "W1", ("λ=10", [1.0, 1.1, 0.9]),
                               {"λ=0.1": [5.0, 5.1, 4.9]}, higher_is_better=False)
    assert free["verdict"] == C.REPRODUCED


def test_the_partial_correlation_by_seed_has_one_rho_per_seed():
    """Seeds are the units: 3 seeds x 8 checkpoints give 3 correlations, not 24 independent points."""
    rng = np.random.default_rng(0)
    its = np.tile(np.arange(8), 3)
    seeds = np.repeat([0, 1, 2], 8)
    trend = -its.astype(float)
    wobble = rng.normal(size=24)
    rhos, p = C.partial_spearman_by_unit(trend + wobble, trend + wobble + 0.1 * rng.normal(size=24), its, seeds)
    assert len(rhos) == 3 and min(rhos) > 0.8 and p < 0.05  # they move together beyond the trend, in every seed
    rhos, p = C.partial_spearman_by_unit(trend + wobble, trend + rng.normal(size=24), its, seeds)
    assert len(rhos) == 3 and not p < 0.01  # only the trend in common
