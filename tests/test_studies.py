"""Studies decide their declared claims from run records (small fixed tables, no training)."""
import pandas as pd
import pytest
import torch

from wgan_repro import claims as C, coverage
from wgan_repro.experiments import fig3_arms
from wgan_repro.studies import clipping_vs_gp as S03, rmsprop_vs_adam as S04

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


@pytest.mark.parametrize("claim", S03.CLAIMS + S04.CLAIMS, ids=lambda c: c.id)
def test_each_quote_is_a_whole_sentence(claim):
    assert claim.quote[0].isupper() and claim.quote.endswith(".")


def table04(kid: dict[str, list[float]], instability: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "seed": s, "kid": k, "instability": instability[v][s]}
                         for v, ks in kid.items() for s, k in enumerate(ks)])


UNSTABLE_ADAM = {S04.CLIP_RMSPROP: [0.010, 0.011, 0.012], S04.CLIP_ADAM: [0.030, 0.032, 0.031],
                 S04.GP_ADAM: [0.04, 0.05, 0.045]}


def test_04_declares_one_primary_claim_and_names_its_paper_items():
    items = [item for _, item, *_ in coverage.PAPER_ITEMS]
    assert [c.id for c in S04.CLAIMS if c.family == C.PRIMARY] == ["04.adam_unstable"]
    assert all(any(item in c.item for item in items) for c in S04.CLAIMS)
    assert all("§4.2" in c.item for c in S04.CLAIMS if "Adam" in c.item)  # WGAN's Adam paragraph is in §4.2


def test_04_decides_the_instability_claim_where_both_clipped_arms_draw_images():
    rows = S04.verdicts(table04({S04.CLIP_RMSPROP: [0.10, 0.11, 0.12], S04.CLIP_ADAM: [0.20, 0.21, 0.22],
                                 S04.GP_ADAM: [0.05, 0.06, 0.07]}, UNSTABLE_ADAM), 500)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {c.id for c in S04.CLAIMS}
    assert all(r["precondition"]["holds"] for r in rows)
    assert by_id["04.adam_unstable"]["verdict"] == C.REPRODUCED
    assert by_id["04.rmsprop_beats_adam_kid"]["verdict"] == C.REPRODUCED  # secondary: outside the family
    assert by_id["04.rmsprop_beats_adam_kid"]["family"] == C.SECONDARY


def test_04_noise_samples_leave_every_claim_not_resolved_whatever_p_says():
    rows = S04.verdicts(table04({S04.CLIP_RMSPROP: [0.39, 0.40, 0.41], S04.CLIP_ADAM: [0.30, 0.31, 0.29],
                                 S04.GP_ADAM: [0.20, 0.21, 0.22]}, UNSTABLE_ADAM), 500)
    assert all(r["verdict"] == C.UNRESOLVED for r in rows)
    assert all(not r["precondition"]["holds"] and "0.25" in r["precondition"]["what"] for r in rows)
    unstable = next(r for r in rows if r["id"] == "04.adam_unstable")
    assert unstable["stats"]["p"] < 0.05 and "clip + RMSProp 0.4000" in unstable["precondition"]["measured"]
    gp = next(r for r in rows if r["id"] == "04.gp_adam_kid")  # GP draws images; clipping with Adam does not
    assert "GP + Adam 0.2100" in gp["precondition"]["measured"] and not gp["precondition"]["holds"]


# ---------------------------------------------------------------- the other studies' decisions, on fixed tables
def test_parameters_takes_what_run_names_from_the_notebook_namespace():
    from wgan_repro.studies import parameters
    from wgan_repro.studies import overfitting

    names = {"dataset": "mnist", "seeds": [0], "In": [], "_": None, "unrelated": 3, "small": 10}
    assert parameters(overfitting.run, names) == {"dataset": "mnist", "seeds": [0], "small": 10}


def test_fig2_needs_a_saturated_discriminator_and_says_so_in_its_rule():
    from wgan_repro.studies import divergences as S00

    saturated = pd.DataFrame({"gan_grad_on_fakes_rel": [1e-4, 2e-4, 3e-4], "critic_grad_on_fakes_rel": [.4, .5, .6]})
    assert S00.fig2_claim(saturated)["verdict"] == C.REPRODUCED
    half = saturated.assign(gan_grad_on_fakes_rel=[1e-4, 2e-4, 0.2])  # one seed's D has not saturated
    c = S00.fig2_claim(half.assign(critic_grad_on_fakes_rel=[.9, .95, 1.0]))
    assert c["verdict"] == C.UNRESOLVED and "10%" in c["rule"]


@pytest.mark.parametrize("ratio, verdict", [([0.01, 0.05, 0.09], C.REPRODUCED), ([1.0, 2.0, 1.5], C.NOT_REPRODUCED),
                                            ([0.01, 0.5, 0.05], C.UNRESOLVED)])
def test_vanishing_gradient_rule_reads_every_seed(ratio, verdict):
    import numpy as np

    from wgan_repro.studies import vanishing_gradients as S06

    c = S06.vanishing_claim(np.array(ratio), np.array([1.0, 1.0, 1.0]), 500)
    assert c["verdict"] == verdict and c["rule"] == S06.RULE and "n = 3 seeds" in c["ours"]


def test_overfitting_gap_is_one_number_per_run_over_the_last_quarter():
    from wgan_repro.studies import overfitting as S07

    curves = pd.DataFrame([{"variant": v, "seed": s, "iteration": it, "gap": (it >= 75) * (s + 1) * (v == "small")}
                           for v in ("small", "all") for s in (0, 1) for it in range(0, 101, 5)])
    gaps = S07.last_quarter_gaps(curves)
    assert len(gaps) == 4 and gaps[gaps.variant == "small"].gap.tolist() == [1.0, 2.0]
    assert gaps[gaps.variant == "all"].gap.tolist() == [0.0, 0.0]


def test_table2_counts_each_architecture_once_per_threshold():
    from wgan_repro.studies import random_architectures as S09

    wide = pd.DataFrame({"GAN": [50.0, 250.0, 450.0], "WGAN-GP": [60.0, 150.0, 600.0]})
    out = S09.outcomes_table(wide, [100.0, 200.0, 500.0]).set_index("KID×1e3 below")
    assert out.loc[200.0].to_dict() == {"only GAN": 0, "only WGAN-GP": 1, "both": 1, "neither": 1}
    assert (out.sum(axis=1) == 3).all()


def test_a_toy_arm_short_of_a_mode_fails_the_convergence_precondition():
    from wgan_repro.studies import penalty_ablations as S08

    t = pd.DataFrame({"variant": ["λ=10"] * 3 + ["λ=0.1"] * 3, "modes_reached": [8, 8, 8, 8, 7, 8]})
    assert S08.converged(t, "8gaussians", "λ=10")["holds"]
    p = S08.converged(t, "8gaussians", "λ=10", "λ=0.1")
    assert not p["holds"] and "λ=0.1 7–8 of 8" in p["measured"]
    assert S08.converged(t, "swissroll", "λ=10") is None


def test_w_tracking_quality_is_not_resolved_while_samples_stay_noise():
    from wgan_repro.studies import meaningful_loss as S05

    rows = [{"variant": v, "seed": s, "iteration": it, "loss_estimate": 1 - it / 100 + s / 100, "kid": 0.5 - it / 1000}
            for v in ("WGAN", "GAN") for s in range(3) for it in range(10, 101, 10)]
    ck = pd.DataFrame(rows)
    rho = pd.DataFrame([{"variant": v, "seed": s, "rho": 1.0} for v in ("WGAN", "GAN") for s in range(3)])
    claims, partial = S05.claims_of(ck, rho)
    assert [c["verdict"] for c in claims] == [C.UNRESOLVED] * 3  # KID 0.4 at the end: noise, whatever ρ says
    assert all(not c["precondition"]["holds"] for c in claims) and set(partial) == {"WGAN", "GAN"}
    images = ck.assign(kid=ck.kid - 0.3)  # the same curves, with samples that became images
    assert S05.claims_of(images, rho)[0][0]["verdict"] == C.REPRODUCED


# ---------------------------------------------------------------- the probes behind the verdicts, known behaviour
def test_a_tightly_clipped_deep_critic_loses_its_gradient_towards_the_input():
    from wgan_repro.probes import critic_activation_gradient_norms, log_slope

    norms = critic_activation_gradient_norms(clip_value=0.001, depth=8, dim=32, steps=5, batch_size=64, seed=0)
    assert len(norms) == 7 and norms[-1] / norms[0] >= 10  # falls by >= 10x from the output side to the input
    assert log_slope(norms) > 0
    gp = critic_activation_gradient_norms(gp_weight=10.0, depth=8, dim=32, steps=5, batch_size=64, seed=0)
    assert abs(log_slope(gp)) < log_slope(norms)


def test_log_slope_reads_decades_per_layer():
    from wgan_repro.probes import log_slope

    assert log_slope([1e-3, 1e-2, 1e-1, 1.0]) == pytest.approx(1.0)
    assert log_slope([5.0, 5.0, 5.0]) == pytest.approx(0.0)
    assert log_slope([1.0, 0.0, 1.0]) != log_slope([1.0, 0.0, 1.0])  # a zero norm: nan, not a slope


def test_a_critic_against_a_fixed_generator_separates_real_from_fake():
    """After 300 steps (not 60: it starts the other way round) the critic scores real points above fakes."""
    import torch

    from wgan_repro.probes import optimal_critic_fixed_generator
    from wgan_repro.toy import sample_toy

    critic = optimal_critic_fixed_generator("8gaussians", "gp", steps=300, dim=32, batch_size=64, seed=0)
    real = sample_toy("8gaussians", 256, torch.Generator().manual_seed(5))
    fake = real + torch.randn(real.shape, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert critic(real).mean() > critic(fake).mean()
    with pytest.raises(ValueError, match="clip or gp"):
        optimal_critic_fixed_generator("8gaussians", "none", steps=1)


def test_wgan_43_no_collapse_reads_every_wgan_arms_class_histogram():
    from wgan_repro.studies import generator_architectures as S02

    archs = ["DCGAN", "constant filters, no BN", "MLP"]

    def table(mlp_classes, mlp_conf):
        return pd.DataFrame([{"variant": f"{a} / WGAN", "seed": s,
                              "classes_covered": mlp_classes[s] if a == "MLP" else 10,
                              "mean_confidence": mlp_conf if a == "MLP" else 0.9} for a in archs for s in range(3)])

    assert S02.no_collapse_claim(table([9, 10, 8], 0.8), archs)["verdict"] == C.REPRODUCED
    collapsed = S02.no_collapse_claim(table([1, 2, 2], 0.63), archs)
    assert collapsed["verdict"] == C.NOT_REPRODUCED and "MLP 1.7±0.6" in collapsed["ours"]
    noise = S02.no_collapse_claim(table([1, 2, 2], 0.2), archs)  # few classes but unconfident: noise, not collapse
    assert noise["verdict"] == C.UNRESOLVED and noise["rule"] == S02.NO_COLLAPSE_RULE


def test_02_convergence_precondition_reads_the_last_quarter_and_makes_a_collapse_unresolved():
    from wgan_repro.studies import generator_architectures as S02

    archs = ["DCGAN", "constant filters, no BN", "MLP"]
    table = pd.DataFrame([{"variant": f"{a} / WGAN", "seed": s, "classes_covered": 1 if a == "MLP" else 10,
                           "mean_confidence": 0.9} for a in archs for s in range(3)])

    def checkpoints(mlp_last):  # scores at 4 checkpoints; the MLP arm's last one varies
        return pd.DataFrame([{"variant": f"{a} / WGAN", "seed": s, "iteration": it,
                              "classifier_score": (mlp_last if (a == "MLP" and it == 2000) else 2.0) + 0.01 * s}
                             for a in archs for s in range(3) for it in (500, 1000, 1500, 2000)])

    settled = S02.converged(checkpoints(2.1), *(f"{a} / WGAN" for a in archs))
    assert settled["holds"] and "iterations 1500 → 2000" in settled["measured"]
    moving = S02.converged(checkpoints(2.5), *(f"{a} / WGAN" for a in archs))  # +25% over the last quarter
    assert not moving["holds"] and "MLP / WGAN 2.01 → 2.51" in moving["measured"]
    short = checkpoints(2.1)[lambda t: t.iteration == 2000]  # one checkpoint: no trend to read, not converged
    one = S02.converged(short, "MLP / WGAN")
    assert not one["holds"] and one["what"] == settled["what"] and "1 sample checkpoint" in one["measured"]
    assert S02.no_collapse_claim(table, archs, settled)["verdict"] == C.NOT_REPRODUCED
    unresolved = S02.no_collapse_claim(table, archs, moving)
    assert unresolved["verdict"] == C.UNRESOLVED and unresolved["precondition"]["what"] == moving["what"]


def test_a_sample_grid_reads_back_as_the_images_it_was_saved_from(tmp_path):
    from wgan_repro.plots import read_image_grid, save_image_grid

    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)).mul(2).sub(1)
    path = save_image_grid(tmp_path / "iter_000100.png", images)
    back = read_image_grid(path, 28)
    assert back.shape == images.shape and (back - images).abs().max() <= 2 / 255 + 1e-6
    with pytest.raises(ValueError, match="not 8 columns of 32-px images"):
        read_image_grid(path, 32)
