"""Grids of runs: content-addressed folders, resuming, and executors that agree on the numbers."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from wgan_repro import objectives
from wgan_repro import grid as R
from wgan_repro import rundir
from wgan_repro.config import ConfigError
from wgan_repro.fidelity import ScoringSpec

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
    assert not rundir.finished(cfg) and (Path(cfg.out_dir) / "checkpoints" / "last.pt").is_file()
    resumed = R.run_grid(BASE, {"WGAN-GP": {}}, [0], tmp_path / "crash", executor="inprocess", progress=False)
    a, b = reference[("WGAN-GP", 0)], resumed[("WGAN-GP", 0)]
    assert torch.equal(_weights(a), _weights(b))
    assert [r["wasserstein_estimate"] for r in a.history] == [r["wasserstein_estimate"] for r in b.history]


@pytest.mark.system
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


@pytest.mark.system
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


def test_a_long_run_read_at_an_earlier_iteration_is_the_shorter_run(tmp_path):
    long = R.run_grid({**BASE, "keep_checkpoints": True}, {"WGAN-GP": {}}, [0], tmp_path / "long",
                      executor="inprocess", progress=False)[("WGAN-GP", 0)]
    short = R.run_grid({**BASE, "iterations": 4}, {"WGAN-GP": {}}, [0], tmp_path / "short",
                       executor="inprocess", progress=False)[("WGAN-GP", 0)]
    at4 = rundir.load_run(long.cfg, iteration=4)
    assert torch.equal(_weights(at4), _weights(short))
    assert [r["loss_critic"] for r in at4.history] == [r["loss_critic"] for r in short.history]
    assert not torch.equal(_weights(long), _weights(short))
    with pytest.raises(ConfigError, match=r"^iteration=3 is not allowed for .*: kept checkpoints are at \[2, 4, 6, 8"):
        rundir.load_run(long.cfg, iteration=3)


def test_longest_runs_are_submitted_first(tmp_path):
    configs = R.grid_configs(BASE, {"short clip": dict(VARIANTS["WGAN (clip)"]), "long GP": {"iterations": 80},
                                    "GP": {}}, [0], tmp_path)
    order = [c.out_dir.split("/")[-2] for c in R.longest_first(list(configs.values()))]
    assert order == ["long_GP", "GP", "short_clip"]


@pytest.mark.system
def test_pool_scores_each_run_where_it_trained_as_inprocess_would(tmp_path, monkeypatch):
    """FID/KID computed in the pool's workers right after training equal the in-process numbers;
    afterwards the notebook only reads them (cached in each run's folder)."""
    from wgan_repro import experiments as E

    monkeypatch.setenv("WGAN_REPRO_OFFLINE", "1")
    base = dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=4, loss="wgan", gp_weight=10.0, d_norm="none",
                g_batchnorm=False, optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=8, n_critic=1,
                iterations=2, sample_every=0, checkpoint_every=0, log_every=1, dvclive=False)
    scoring = ScoringSpec("mnist-train", 28, n_samples=6, n_reference=6, isc=False)
    grid = {"a": {}, "b": {"lr_g": 2e-4}}
    inproc = R.run_grid(base, grid, [0], tmp_path / "a", scoring=scoring, executor="inprocess", progress=False)
    pooled = R.run_grid(base, grid, [0], tmp_path / "b", scoring=scoring, executor="pool", progress=False)

    def no_scoring(*a, **k):
        raise AssertionError("the scores should come from the runs' caches")

    from wgan_repro import work

    monkeypatch.setattr(work, "score", no_scoring)
    a = E.score_runs(inproc, scoring)
    b = E.score_runs(pooled, scoring)
    assert a.kid.tolist() == b.kid.tolist() and a.fid.tolist() == b.fid.tolist()
    assert a.kid.iloc[0] != a.kid.iloc[1]


def test_a_coverage_measurement_applies_only_to_the_same_configs_seeds_and_sample_count(tmp_path):
    import json

    from wgan_repro import experiments as E

    ours = {v: E.run_signature({**BASE, **kw, "seed": 0, "out_dir": "a"}) for v, kw in VARIANTS.items()}
    longer = {v: E.run_signature({**BASE, **kw, "seed": 2, "iterations": 800, "checkpoint_every": 100, "out_dir": "b",
                                  "keep_checkpoints": True}) for v, kw in VARIANTS.items()}
    assert ours == longer  # length, seed and place do not make a different run

    rows = [dict(variant=v, seed=s, iteration=i, modes_covered=s + i // 100) for v in VARIANTS for s in (0, 1)
            for i in (100, 200)]
    path = tmp_path / "details.json"

    def measured(runs, n_eval=500, seeds=(0, 1)):
        path.write_text(json.dumps({"coverage_config": {"runs": runs, "n_eval": n_eval}, "coverage_25gaussians": rows}))
        return E.coverage_measurement(path, ours, list(seeds), 500)

    assert measured(longer) == (rows, "")
    assert measured(longer, seeds=[1])[0] == [r for r in rows if r["seed"] == 1]
    other = {**longer, "WGAN-GP": E.run_signature({**BASE, "dim": 32})}
    assert measured(other)[1].endswith("measured a different WGAN-GP config (dim differ)")
    assert measured({"WGAN-GP": longer["WGAN-GP"]})[1].endswith("did not train WGAN (clip) longer")
    assert measured(longer, n_eval=2500)[0] is None
    assert measured(longer, seeds=[0, 1, 2])[1].endswith("no WGAN-GP coverage curve for seeds [2]")
    path.write_text(json.dumps({"coverage_config": {"run": longer["WGAN-GP"], "n_eval": 500},  # the older, GP-only form
                                "coverage_25gaussians": rows}))
    assert E.coverage_measurement(path, ours, [0, 1], 500)[0] is None
    assert E.coverage_measurement(tmp_path / "none.json", ours, [0], 500)[0] is None


def test_coverage_curves_read_every_kept_checkpoint_with_its_critic_updates_and_clock(tmp_path):
    from wgan_repro import experiments as E
    from wgan_repro.metrics import mode_coverage, sample_generator
    from wgan_repro.rundir import load_run

    variants = {"WGAN-GP": {}, "GAN": dict(loss="gan-ns", gp_weight=0.0, n_critic=1)}
    runs = R.run_grid({**BASE, "keep_checkpoints": True}, variants, [0], tmp_path, executor="inprocess", progress=False)
    rows = E.coverage_curve(runs, 4, 8, 300)
    assert [(r["variant"], r["iteration"], r["critic_updates"]) for r in rows] == [
        ("WGAN-GP", 4, 8), ("WGAN-GP", 8, 16), ("GAN", 4, 4), ("GAN", 8, 8)]
    assert all(r["wall_time"] > 0 for r in rows) and rows[0]["wall_time"] < rows[1]["wall_time"]
    at4 = load_run(runs[("WGAN-GP", 0)].cfg, 4)  # the checkpoint itself, sampled as in the comparison
    expected = mode_coverage(sample_generator(at4.generator, 300, seed=1000), "8gaussians")
    assert rows[0]["modes_reached"] == expected.modes_reached


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_head(temp_dir: str, **env) -> int:
    """`ray start --head` on a free port below temp_dir, from an environment without the data root: its port. A
    start that fails twice (Ray's node start-up under heavy load) skips the test with the reason, never a red."""
    import subprocess
    import sys

    head_env = {k: v for k, v in os.environ.items() if not k.startswith(("WGAN_REPRO", "RAY_"))}
    head_env.update(env)
    for attempt in (1, 2):
        port = _free_port()
        proc = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "start", "--head",
                               "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"],
                              env=head_env, timeout=300, capture_output=True, text=True)
        if proc.returncode == 0:
            return port
        stop_processes_naming(temp_dir)
    pytest.skip(f"ray start --head failed twice (a slow machine?): {proc.stderr.strip().splitlines()[-1:]}")


def stop_processes_naming(token: str, grace: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process of ours whose command line contains `token` (a private Ray
    head's temp dir: every process of that head names it); nothing else on the machine is touched."""
    import signal
    import time

    def matching() -> list[int]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if token in cmdline.read_bytes().decode(errors="replace") and int(cmdline.parent.name) != os.getpid():
                    found.append(int(cmdline.parent.name))
            except OSError:
                continue
        return found

    pids = matching()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in matching():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while matching() and time.monotonic() < deadline:
            time.sleep(0.2)
    return pids


@pytest.mark.system
def test_ray_executor_against_a_ray_start_head_gives_workers_the_drivers_data_root(tmp_path, monkeypatch):
    """The cluster route as README gives it: a head from `ray start` (whose environment has no data root),
    a driver that names its address, an MNIST grid that only trains if the workers get the driver's
    WGAN_REPRO_DATA and see its run folders."""

    pytest.importorskip("ray")
    from tests.conftest import make_tiny_datasets

    root = make_tiny_datasets(tmp_path / "data", n_mnist=64, n_cifar_per_class=1)
    temp_dir = tempfile.mkdtemp(prefix="wr-ray-", dir="/tmp")  # short: Ray's socket paths live below it
    try:
        port = _start_head(temp_dir, RAY_AUTH_MODE="disabled")  # a private head; docs/grids.md: a cluster's token
        monkeypatch.setenv("WGAN_REPRO_DATA", str(root))
        monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        base = dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=4, loss="wgan", gp_weight=10.0,
                    d_norm="none", optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=16, n_critic=1,
                    iterations=2, sample_every=0, checkpoint_every=0, log_every=1, dvclive=False)
        inproc = R.run_grid(base, {"WGAN-GP": {}}, [0], tmp_path / "a", executor="inprocess", progress=False)
        on_ray = R.run_grid(base, {"WGAN-GP": {}}, [0], tmp_path / "b", executor="ray",
                            ray_address=f"127.0.0.1:{port}", progress=False)
    finally:  # this test's head only: `ray stop` would stop every Ray process on the machine
        stop_processes_naming(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    key = ("WGAN-GP", 0)
    assert torch.equal(_weights(inproc[key]), _weights(on_ray[key]))
    untimed = [[{k: v for k, v in r.items() if k not in ("wall_time", "seconds_per_iteration")} for r in res.history]
               for res in (inproc[key], on_ray[key])]
    assert untimed[0] == untimed[1]


def test_with_checkpoint_scoring_a_run_is_compared_by_its_final_generator_and_each_checkpoint_has_a_clock(
        tmp_path, monkeypatch):
    from wgan_repro import experiments as E

    monkeypatch.setenv("WGAN_REPRO_OFFLINE", "1")
    base = dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=4, loss="wgan", gp_weight=10.0, d_norm="none",
                g_batchnorm=False, optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=8, n_critic=1, iterations=4,
                sample_every=0, checkpoint_every=2, keep_checkpoints=True, log_every=1, dvclive=False)
    final_only = ScoringSpec("mnist-train", 28, n_samples=6, n_reference=6, isc=False)
    every = ScoringSpec("mnist-train", 28, n_samples=6, n_reference=6, isc=False, checkpoints=True)
    runs = R.run_grid(base, {"a": {}}, [0], tmp_path, scoring=every, executor="inprocess", progress=False)
    assert E.score_runs(runs, every).kid.tolist() == E.score_runs(runs, final_only).kid.tolist()
    ck = E.score_checkpoints(runs[("a", 0)], every, "wasserstein_estimate")
    assert ck.iteration.tolist() == [2, 4] and ck.wall_time.iloc[0] < ck.wall_time.iloc[1]


def test_runs_per_gpu_reads_the_environment_and_refuses_nonsense(monkeypatch):
    from wgan_repro.config import ConfigError
    from wgan_repro.device import runs_per_gpu

    monkeypatch.delenv("WGAN_REPRO_PER_GPU", raising=False)
    assert runs_per_gpu() == 4 and runs_per_gpu(12) == 12
    monkeypatch.setenv("WGAN_REPRO_PER_GPU", "8")
    assert runs_per_gpu() == 8 and runs_per_gpu(2) == 2  # an argument wins over the environment
    for bad in ("0", "two", "2.5"):
        monkeypatch.setenv("WGAN_REPRO_PER_GPU", bad)
        with pytest.raises(ConfigError, match=f"WGAN_REPRO_PER_GPU='{bad}' is not allowed: a whole number"):
            runs_per_gpu()
    with pytest.raises(ConfigError, match="per_gpu=2.5 is not allowed"):
        runs_per_gpu(2.5)


def test_seeds_of_gives_a_variant_its_own_seeds(tmp_path):
    arm = dict(dataset="8gaussians", arch="toy", dim=8, iterations=2, gp_weight=10.0, d_norm="none")
    variants = {"arm": arm, "control": {**arm, "lr_d": 1e-3}}
    configs = R.grid_configs({}, variants, [0, 1, 2], tmp_path, seeds_of={"control": [0]})
    assert list(configs) == [("arm", 0), ("arm", 1), ("arm", 2), ("control", 0)]
    with pytest.raises(ConfigError, match="seeds_of='ctrl' is not allowed: it names no variant"):
        R.grid_configs({}, variants, [0], tmp_path, seeds_of={"ctrl": [0]})
    with pytest.raises(ConfigError, match=r"seeds_of\['control'\]=\[0, 0\] is not allowed"):
        R.grid_configs({}, variants, [0], tmp_path, seeds_of={"control": [0, 0]})


_TINY_MNIST = dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=4, loss="wgan", gp_weight=10.0,
                   d_norm="none", optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=16, n_critic=1, iterations=2,
                   sample_every=0, checkpoint_every=0, log_every=1, dvclive=False)


def test_a_ray_address_where_nothing_listens_is_one_line_at_once(tmp_path, monkeypatch):
    """Ray itself retries a closed port for minutes (issue 32); the grid checks the address first."""
    import time

    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    port = _free_port()  # free: nothing listens there
    start = time.monotonic()
    with pytest.raises(ConfigError) as e:
        R.run_grid(_TINY_MNIST, {"a": {}}, [0], tmp_path, executor="ray", ray_address=f"127.0.0.1:{port}",
                   progress=False)
    assert time.monotonic() - start < 30
    assert f"nothing answers at 127.0.0.1:{port}" in str(e.value) and "\n" not in str(e.value)
    assert not any(tmp_path.rglob("*.pt"))  # refused before any training


def _token_head_grid(tmp_path, monkeypatch, driver_token: str):
    """A head started with RAY_AUTH_MODE=token and its token; a grid through it with `driver_token` (the driver's
    RAY_AUTH_MODE unset: the grid sets it from the token)."""
    from tests.conftest import make_tiny_datasets

    root = make_tiny_datasets(tmp_path / "data", n_mnist=64, n_cifar_per_class=1)
    temp_dir = tempfile.mkdtemp(prefix="wr-ray-", dir="/tmp")
    try:
        port = _start_head(temp_dir, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0123456789abcdef" * 2)
        monkeypatch.setenv("WGAN_REPRO_DATA", str(root))
        for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("RAY_AUTH_TOKEN", driver_token)
        return R.run_grid(_TINY_MNIST, {"a": {}}, [0], tmp_path / "runs", executor="ray",
                          ray_address=f"127.0.0.1:{port}", progress=False)
    finally:  # this test's head only
        stop_processes_naming(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.system
def test_a_token_authenticated_head_names_the_drivers_token_when_it_refuses(tmp_path, monkeypatch):
    """Issue 31: Ray reports a refused token as "Failed to connect"; the line says the driver's token (and where it
    came from) is not the head's."""
    pytest.importorskip("ray")
    with pytest.raises(ConfigError) as e:
        _token_head_grid(tmp_path, monkeypatch, "f" * 32)
    assert "token authentication" in str(e.value) and "RAY_AUTH_TOKEN" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.system
def test_a_token_authenticated_head_takes_a_driver_with_its_token(tmp_path, monkeypatch):
    """README's route: the head's token in the driver's RAY_AUTH_TOKEN, RAY_AUTH_MODE unset (the grid sets it, and
    has Ray read its configuration again: Ray reads it at import); afterwards the driver's mode is as it was."""
    pytest.importorskip("ray")
    import ray  # imported before the grid sets the mode: the case that was refused

    assert not ray.is_initialized()
    runs = _token_head_grid(tmp_path, monkeypatch, "0123456789abcdef" * 2)
    assert len(runs[("a", 0)].history) == _TINY_MNIST["iterations"]  # trained on the cluster, every iteration logged
    assert "RAY_AUTH_MODE" not in os.environ
