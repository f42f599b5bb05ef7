"""The notebooks' helpers in wgan_repro.experiments that build arms and tables."""
import pytest
import torch

from tests.conftest import tiny_toy_config
from wgan_repro import experiments as E
from wgan_repro.metrics import mode_coverage, sample_generator
from wgan_repro.presets import config_from_dict
from wgan_repro.train import train


def test_fig3_arms_are_the_papers_four():
    scale = dict(dataset="cifar10", image_size=32, dim=8, iterations=400, log_every=10, sample_every=0,
                 checkpoint_every=0)
    arms = E.fig3_arms(scale, "constant", all_arms=True)
    assert list(arms) == ["WGAN (clip)", "WGAN-GP", "WGAN-GP (RMSProp)", "DCGAN"]
    clip, gp, gp_rms, dcgan = (config_from_dict({**a, "out_dir": "-"}) for a in arms.values())
    assert (clip.optimizer, clip.lr_d, clip.clip_value, clip.critic_schedule) == ("rmsprop", 5e-5, 0.01, "constant")
    assert (gp.optimizer, gp.lr_d, gp.gp_weight, gp.beta1, gp.beta2) == ("adam", 1e-4, 10.0, 0.5, 0.9)
    # the optimizer control: the penalty with clipping's optimizer and learning rate
    assert (gp_rms.optimizer, gp_rms.lr_d, gp_rms.lr_g, gp_rms.gp_weight) == ("rmsprop", 5e-5, 5e-5, 10.0)
    assert (dcgan.loss, dcgan.gp_weight, dcgan.n_critic, dcgan.lr_d, dcgan.beta2) == ("gan-ns", 0.0, 1, 2e-4, 0.999)
    assert {(c.checkpoint_every, c.keep_checkpoints) for c in (clip, gp, gp_rms, dcgan)} == {(100, True)}
    assert {a["checkpoint_every"] for a in E.fig3_arms(scale, checkpoint_every=1000).values()} == {1000}
    two = E.fig3_arms(scale, "wgan", all_arms=False)
    assert list(two) == ["WGAN (clip)", "WGAN-GP"]
    assert two["WGAN (clip)"]["critic_schedule"] == "wgan" and not two["WGAN-GP"].get("keep_checkpoints")


@pytest.mark.parametrize("wasserstein", [True, False])
def test_toy_scores_reads_each_generator_with_its_seeded_noise(tmp_path, wasserstein):
    runs = {("GP", s): train(tiny_toy_config(tmp_path / f"s{s}", seed=s, iterations=3, dvclive=False))
            for s in (0, 1)}
    table = E.toy_scores(runs, 300, wasserstein=wasserstein)
    assert list(table.seed) == [0, 1] and ("w1" in table) == wasserstein
    for (_, seed), r in runs.items():
        cov = mode_coverage(sample_generator(r.generator, 300, seed=1000 + seed), "8gaussians")
        row = table[table.seed == seed].iloc[0]
        assert (row.modes_reached, row.modes_covered, row.high_quality_rate) == (
            cov.modes_reached, cov.modes_covered, cov.high_quality_rate)
    if wasserstein:
        assert torch.isfinite(torch.tensor(table.w1.values)).all() and (table.w1 > 0).all()
