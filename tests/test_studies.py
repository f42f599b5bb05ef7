"""Studies decide their declared claims from run records (small fixed tables, no training)."""
import pandas as pd
import pytest

from wgan_repro import claims as C, coverage
from wgan_repro.experiments import fig3_arms
from wgan_repro.studies import clipping_vs_gp as S03

SCALE = dict(dataset="cifar10", image_size=32, dim=8, iterations=10, log_every=1)


def table(kid: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, "kid": k, "fid": 100 * k} for v, ks in kid.items()
                         for s, k in enumerate(ks)])


def test_every_declared_claim_has_a_unique_id_and_names_a_paper_item():
    ids = [c.id for c in S03.CLAIMS]
    assert len(ids) == len(set(ids)) and all(i.startswith("03.") for i in ids)
    items = [item for _, item, *_ in coverage.PAPER_ITEMS]
    assert all(any(item in c.item for item in items) for c in S03.CLAIMS)
    assert {c.family for c in S03.CLAIMS} <= {C.PRIMARY, C.SECONDARY}


def test_images_decide_the_same_optimizer_claim_where_samples_are_images():
    arms = fig3_arms(SCALE, all_arms=False, control=True)
    rows = S03.verdicts(table({S03.CLIP: [0.12, 0.13, 0.125], S03.GP_RMSPROP: [0.05, 0.06, 0.055],
                               S03.GP_ADAM: [0.03, 0.035, 0.032]}), arms, 10, 8, 8)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {c.id for c in S03.CLAIMS}
    same = by_id["03.same_optimizer_kid"]
    assert same["verdict"] == C.REPRODUCED and same["precondition"]["holds"]
    assert "RMSProp" in same["paper"] or "same optimizer" in same["paper"]
    assert by_id["03.caption_fid"]["family"] == C.SECONDARY


def test_noise_leaves_every_claim_not_resolved_and_says_why():
    arms = fig3_arms(SCALE, all_arms=False, control=True)
    rows = S03.verdicts(table({S03.CLIP: [0.39, 0.38, 0.40], S03.GP_RMSPROP: [0.30, 0.31, 0.29],
                               S03.GP_ADAM: [0.27, 0.28, 0.26]}), arms, 10, 8, 8)
    assert all(r["verdict"] == C.UNRESOLVED for r in rows)
    assert all(not r["precondition"]["holds"] and "images" in r["precondition"]["what"] for r in rows)
    assert all(r["stats"]["p"] < 0.05 for r in rows if r["id"] == "03.same_optimizer_kid")  # p alone would say yes


def test_a_different_learning_rate_breaks_the_same_optimizer_precondition():
    arms = fig3_arms(SCALE, all_arms=False, control=True)
    arms[S03.GP_RMSPROP] = {**arms[S03.GP_RMSPROP], "lr_d": 1e-4}
    pre = S03.preconditions(table({S03.CLIP: [0.1], S03.GP_RMSPROP: [0.05]}), arms)
    assert not pre["same_optimizer"]["holds"] and "rmsprop 0.0001" in pre["same_optimizer"]["measured"]


def test_without_the_control_arm_only_the_caption_claims_are_decided():
    arms = fig3_arms(SCALE, all_arms=False, control=False)
    rows = S03.verdicts(table({S03.CLIP: [0.12, 0.13], S03.GP_ADAM: [0.03, 0.035]}), arms, 10, 8, 8)
    assert {r["id"] for r in rows} == {"03.caption_kid", "03.caption_fid"}


@pytest.mark.parametrize("claim", S03.CLAIMS, ids=lambda c: c.id)
def test_each_quote_is_a_whole_sentence(claim):
    assert claim.quote[0].isupper() and claim.quote.endswith(".")
