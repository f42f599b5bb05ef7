"""Grids of runs: content-addressed folders, resuming, and executors that agree on the numbers."""
from pathlib import Path

import pytest
import torch

from wgan_repro import objectives
from wgan_repro import runs as R
from wgan_repro.config import ConfigError

BASE = dict(dataset="8gaussians", arch="toy", dim=16, loss="wgan", gp_weight=0.1, d_norm="none",
            optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=32, n_critic=2, iterations=8,
            sample_every=0, checkpoint_every=2, log_every=1, dvclive=False)
VARIANTS = {"WGAN-GP": {}, "WGAN (clip)": dict(gp_weight=0.0, clip_value=0.01, optimizer="rmsprop")}


def _weights(result):
    return torch.cat([p.detach().flatten() for p in [*result.generator.parameters(), *result.critic.parameters()]])


def test_folders_are_keyed_by_config_and_finished_runs_are_loaded(tmp_path, monkeypatch):
    first = R.run_grid(BASE, VARIANTS, [0, 1], tmp_path, executor="inprocess", progress=False)
    dirs = {k: r.out_dir for k, r in first.items()}
    assert len(set(dirs.values())) == 4
    assert dirs[("WGAN-GP", 0)].parent.name == "WGAN-GP" and dirs[("WGAN (clip)", 1)].parent.name == "WGAN_clip"

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("wgan_repro.train.train", no_training)
    again = R.run_grid(BASE, VARIANTS, [0, 1], tmp_path, executor="inprocess", progress=False)
    assert {k: r.out_dir for k, r in again.items()} == dirs
    assert torch.equal(_weights(again[("WGAN-GP", 0)]), _weights(first[("WGAN-GP", 0)]))
    assert again[("WGAN-GP", 0)].history == first[("WGAN-GP", 0)].history
    # a changed hyper-parameter is a new run in a new folder, never an overwrite
    changed = R.grid_configs({**BASE, "lr_d": 2e-4}, VARIANTS, [0], tmp_path)
    assert changed[("WGAN-GP", 0)].out_dir != str(dirs[("WGAN-GP", 0)])


def test_a_run_that_crashed_resumes_and_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    reference = R.run_grid(BASE, {"WGAN-GP": {}}, [0], tmp_path / "clean", executor="inprocess", progress=False)
    original, calls = objectives.generator_loss, {"n": 0}

    def crash_at_iteration_5(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # a kill between checkpoints (last one at iteration 4)
        return original(*args, **kwargs)

    monkeypatch.setattr(objectives, "generator_loss", crash_at_iteration_5)
    with pytest.raises(KeyboardInterrupt):
        R.run_grid(BASE, {"WGAN-GP": {}}, [0], tmp_path / "crash", executor="inprocess", progress=False)
    monkeypatch.setattr(objectives, "generator_loss", original)
    (cfg,) = R.grid_configs(BASE, {"WGAN-GP": {}}, [0], tmp_path / "crash").values()
    assert not R.finished(cfg) and (Path(cfg.out_dir) / "checkpoints" / "last.pt").is_file()
    resumed = R.run_grid(BASE, {"WGAN-GP": {}}, [0], tmp_path / "crash", executor="inprocess", progress=False)
    a, b = reference[("WGAN-GP", 0)], resumed[("WGAN-GP", 0)]
    assert torch.equal(_weights(a), _weights(b))
    assert [r["wasserstein_estimate"] for r in a.history] == [r["wasserstein_estimate"] for r in b.history]


def test_pool_executor_gives_the_same_numbers_as_inprocess(tmp_path):
    inproc = R.run_grid(BASE, VARIANTS, [0, 1], tmp_path / "a", executor="inprocess", progress=False)
    pooled = R.run_grid(BASE, VARIANTS, [0, 1], tmp_path / "b", executor="pool", workers=2, progress=False)
    assert list(inproc) == list(pooled)
    for key in inproc:
        assert torch.equal(_weights(inproc[key]), _weights(pooled[key])), key
        assert [r["loss_critic"] for r in inproc[key].history] == [r["loss_critic"] for r in pooled[key].history]


def test_bad_values_stop_before_any_run_starts(tmp_path):
    with pytest.raises(ConfigError, match=r"^n_critic=0 is not allowed"):
        R.run_grid(BASE, {"ok": {}, "bad": {"n_critic": 0}}, [0], tmp_path, executor="inprocess", progress=False)
    assert not any(tmp_path.rglob("last.pt"))
    with pytest.raises(ConfigError, match=r"^executor='gpu' is not allowed: one of"):
        R.run_grid(BASE, {"ok": {}}, [0], tmp_path, executor="gpu", progress=False)


def test_ray_executor_on_a_local_head_gives_the_same_numbers_as_inprocess(tmp_path):
    ray = pytest.importorskip("ray")  # in the dev extra: CI has it
    inproc = R.run_grid(BASE, VARIANTS, [0], tmp_path / "a", executor="inprocess", progress=False)
    ray.init(address="local", _node_ip_address="127.0.0.1", num_cpus=2, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        assert ray.is_initialized()
        on_ray = R.run_grid(BASE, VARIANTS, [0], tmp_path / "b", executor="ray", progress=False)
    finally:
        ray.shutdown()
    for key in inproc:
        assert torch.equal(_weights(inproc[key]), _weights(on_ray[key])), key
        assert inproc[key].history[-1]["loss_critic"] == on_ray[key].history[-1]["loss_critic"]
