import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, tiny_toy_config
from wgan_repro import objectives
from wgan_repro.probes import fit_critic_1d
from wgan_repro.rundir import RunExistsError, read_history
from wgan_repro.train import TrainingDiverged, train

TIMING = {"seconds_per_iteration", "wall_time"}


def curve(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def test_same_seed_same_numbers_different_seed_differs(tmp_path):
    a = train(tiny_toy_config(tmp_path / "a", seed=3))
    b = train(tiny_toy_config(tmp_path / "b", seed=3))
    c = train(tiny_toy_config(tmp_path / "c", seed=4))
    assert curve(a.history) == curve(b.history)
    assert curve(a.history) != curve(c.history)
    for pa, pb in zip(a.generator.parameters(), b.generator.parameters()):
        assert torch.equal(pa, pb)


def test_logs_every_quantity_per_generator_iteration(tmp_path):
    cfg = tiny_toy_config(tmp_path, iterations=6, sample_every=3)
    res = train(cfg)
    assert [r["iteration"] for r in res.history] == list(range(6))
    keys = {"wasserstein_estimate", "loss_critic", "loss_generator", "gradient_penalty",
            "critic_grad_norm_real", "critic_grad_norm_fake", "critic_grad_norm_interp",
            "critic_weight_absmax", "seconds_per_iteration", "wall_time", "generator_grad_norm"}
    assert keys <= set(res.history[0])
    tsv = Path(cfg.out_dir) / "dvclive" / "plots" / "metrics" / "wasserstein_estimate.tsv"
    assert len(tsv.read_text().splitlines()) == 1 + 6
    assert sorted(p.name for p in (Path(cfg.out_dir) / "samples").glob("*.png")) == [
        "iter_000003.png", "iter_000006.png"]


def test_runs_write_no_dvclive_signal_file(tmp_path, monkeypatch):
    """DVCLive's next_step() writes one VS Code signal file per repository, which concurrent runs
    (pool workers) race to write and delete: a `dvc repro` once failed on it. We log without it."""
    import dvclive.live

    signals = []
    monkeypatch.setattr(dvclive.live, "mark_dvclive_step_completed", signals.append)
    cfg = tiny_toy_config(tmp_path / "run", iterations=4, dvclive=True)
    train(cfg)
    assert signals == []
    summary = json.loads((Path(cfg.out_dir) / "dvclive" / "metrics.json").read_text())
    assert summary["step"] == 3


def test_existing_run_is_not_overwritten_silently(tmp_path):
    cfg = tiny_toy_config(tmp_path, iterations=4)
    train(cfg)
    with pytest.raises(RunExistsError, match="out_dir="):
        train(cfg)
    assert (Path(cfg.out_dir) / "checkpoints" / "last.pt").is_file()


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from tests.conftest import tiny_toy_config
from pathlib import Path
from wgan_repro import objectives, train as T
calls = {{"n": 0}}
original = objectives.generator_loss
def dying(*a, **k):
    calls["n"] += 1
    if calls["n"] == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*a, **k)
objectives.generator_loss = dying
T.train(tiny_toy_config(Path({tmp!r}), iterations={iters}, checkpoint_every=5))
"""


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    iters = 17
    full = train(tiny_toy_config(tmp_path / "full", iterations=iters, checkpoint_every=5))
    script = KILL_SCRIPT.format(repo=str(REPO), kill_at=13, tmp=str(tmp_path / "killed"), iters=iters)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]
    out = tmp_path / "killed" / "run"
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["iteration"] == 10
    assert len(read_history(out)) == 12  # rows past the checkpoint exist before resuming
    resumed = train(tiny_toy_config(tmp_path / "killed", iterations=iters, checkpoint_every=5, resume=True))
    assert curve(resumed.history) == curve(full.history)
    for pa, pb in zip(full.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(pa, pb)
    tsv = out / "dvclive" / "plots" / "metrics" / "wasserstein_estimate.tsv"
    steps = [int(line.split("\t")[0]) for line in tsv.read_text().splitlines()[1:]]
    assert steps == list(range(iters))


def test_resume_refuses_a_changed_setting(tmp_path):
    train(tiny_toy_config(tmp_path, iterations=4))
    with pytest.raises(ValueError, match="lr_d=.*not allowed on resume"):
        train(tiny_toy_config(tmp_path, iterations=8, resume=True, lr_d=1e-3))


def test_nan_stops_with_clear_message_and_keeps_checkpoint(tmp_path, monkeypatch):
    original = objectives.critic_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        value = original(*args, **kwargs)
        return value * float("nan") if calls["n"] > 2 * 6 else value  # n_critic=2: NaN at iteration 6

    monkeypatch.setattr(objectives, "critic_loss", poisoned)
    cfg = tiny_toy_config(tmp_path, iterations=12, checkpoint_every=4)
    with pytest.raises(TrainingDiverged, match=r"critic loss is nan at generator iteration 6.*iteration 4"):
        train(cfg)
    ckpt = torch.load(Path(cfg.out_dir) / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["iteration"] == 4
    assert all(math.isfinite(v) for v in json.loads(
        (Path(cfg.out_dir) / "history.jsonl").read_text().splitlines()[-1]).values())


def test_one_dimensional_critic_estimates_w_within_10_percent():
    _, estimate = fit_critic_1d(0.0, 3.0, loss="wgan", gp_weight=100.0, steps=1500)
    assert estimate == pytest.approx(3.0, rel=0.10)


def test_penalised_critic_overshoots_w_as_the_penalty_predicts():
    # A critic of slope s between the two Gaussians gains 3 s and pays lambda (s - 1)^2, so the
    # optimum is s = 1 + W / (2 lambda): with lambda = 10 the estimate is 3 * 1.15 = 3.45, not 3.
    _, estimate = fit_critic_1d(0.0, 3.0, loss="wgan", gp_weight=10.0, steps=1500)
    assert estimate == pytest.approx(3.0 * (1 + 3.0 / 20), rel=0.03)


def test_clipping_keeps_every_critic_weight_inside_c_during_training(tmp_path):
    cfg = tiny_toy_config(tmp_path, gp_weight=0.0, clip_value=0.01, optimizer="rmsprop", lr_d=5e-2,
                          iterations=3)
    res = train(cfg)
    assert max(p.abs().max().item() for p in res.critic.parameters()) <= 0.01
    assert res.history[-1]["critic_weight_at_clip"] > 0.5  # a big lr pushes weights to +-c


def test_wgan_schedule_runs_100_critic_steps_first(tmp_path):
    res = train(tiny_toy_config(tmp_path, critic_schedule="wgan", n_critic=5, iterations=2, dim=8))
    assert [r["critic_steps"] for r in res.history] == [100, 100]


def test_checkpoint_guard_never_writes_non_finite_weights(tmp_path):
    # issue 9.3: RMSProp with lr 1e38 blows the weights up between logs; the checkpoint written
    # before that must stay the last one, and the error must name the poisoned tensor.
    cfg = tiny_toy_config(tmp_path, gp_weight=0.0, clip_value=0.01, optimizer="rmsprop", lr_g=1e38,
                          iterations=12, checkpoint_every=1, log_every=100)
    expected = r"^generator\..* is not finite at generator iteration 0.*none written yet"
    with pytest.raises(TrainingDiverged, match=expected):
        train(cfg)
    assert not (Path(cfg.out_dir) / "checkpoints" / "last.pt").exists()


def test_first_non_finite_names_the_first_poisoned_tensor_in_checkpoint_order():
    from torch import nn

    from wgan_repro.diagnostics import first_non_finite

    g, d = nn.Linear(2, 2), nn.Linear(2, 1)
    opt = torch.optim.Adam(d.parameters())
    d(torch.ones(1, 2)).sum().backward()
    opt.step()
    assert first_non_finite(g, d, opt) is None
    next(iter(opt.state.values()))["exp_avg"].fill_(float("inf"))
    assert first_non_finite(g, d, opt).startswith("optimizer 0 state")
    with torch.no_grad():
        d.bias.fill_(float("nan"))
    assert first_non_finite(g, d, opt) == "critic.bias"


def test_huge_penalty_with_inf_adam_state_is_caught(tmp_path):
    # issue 9.3: gp_weight=1e30 freezes the critic and fills Adam's state with inf
    cfg = tiny_toy_config(tmp_path, gp_weight=1e30, iterations=4, checkpoint_every=2, log_every=100)
    with pytest.raises(TrainingDiverged, match=r"is not finite"):
        train(cfg)


def test_the_loop_does_not_wait_on_the_device_between_logs(tmp_path, monkeypatch):
    # issue 8.3: no .item()/float() per critic step; values are read on logged iterations only
    # (torch's own optimisers read their CPU step counters; only our code's reads are counted)
    import sys

    counts = {"reads": 0}
    originals = {name: getattr(torch.Tensor, name) for name in ("item", "__float__", "__bool__", "tolist")}

    def counting(name):
        def read(self, *args):
            if "wgan_repro" in sys._getframe(1).f_code.co_filename:
                counts["reads"] += 1
            return originals[name](self, *args)
        return read

    for name in originals:
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    train(tiny_toy_config(tmp_path, iterations=40, n_critic=5, log_every=20, checkpoint_every=0, dvclive=False))
    logged = 3  # iterations 0, 20 and the last
    assert 0 < counts["reads"] <= 16 * logged, counts  # 200 critic steps: one read each would be 200


def test_a_heldout_split_logs_the_critic_on_unseen_images_without_changing_the_run(tmp_path):
    """WGAN-GP Fig. 5b: the critic's W estimate on held-out images beside the training one; the
    split reads no random number of the run, so the training curve is the same with or without it."""
    from wgan_repro.config import TrainConfig

    base = dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=4, loss="wgan", gp_weight=10.0, d_norm="none",
                optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=16, n_critic=1, iterations=4, sample_every=0,
                checkpoint_every=0, log_every=1, dvclive=False, progress=False, train_size=100)
    plain = train(TrainConfig(**base, out_dir=str(tmp_path / "a")))
    split = train(TrainConfig(**base, heldout_size=50, out_dir=str(tmp_path / "b")))
    assert [r["wasserstein_estimate"] for r in plain.history] == [r["wasserstein_estimate"] for r in split.history]
    assert "wasserstein_estimate_heldout" not in plain.history[-1]
    assert all(math.isfinite(r["wasserstein_estimate_heldout"]) for r in split.history)
    with pytest.raises(Exception, match="train_size"):
        TrainConfig(**{**base, "train_size": 10**9, "heldout_size": 10}, out_dir=str(tmp_path / "c"))
        train(TrainConfig(**{**base, "train_size": 10**9, "heldout_size": 10, "out_dir": str(tmp_path / "c")}))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the GPU machine, never CI)")
def test_cuda_adam_checkpoint_and_resume(tmp_path):
    # two defects a GPU run met first: the non-finite check stacked Adam's CPU step counts with CUDA
    # tensors, and resuming set the CPU RNG from a state mapped onto the GPU
    cfg = tiny_toy_config(tmp_path, iterations=4, checkpoint_every=2, device="cuda", optimizer="adam")
    train(cfg)
    resumed = train(tiny_toy_config(tmp_path, iterations=8, checkpoint_every=2, device="cuda", optimizer="adam",
                                    resume=True))
    assert [row["iteration"] for row in resumed.history][-1] == 7


@pytest.mark.parametrize("threads, expected", [(1, 1), (2, 2)])
def test_a_cpu_run_trains_with_its_threads_field_and_restores_the_callers(tmp_path, monkeypatch, threads, expected):
    """`train` runs with one intra-op thread by default, as every grid does (the same numbers whichever executor
    ran it; no oversubscription on a busy machine), and puts the caller's count back after."""
    from tests.conftest import tiny_toy_config
    from wgan_repro import train as T

    seen, real = [], T._checkpoint
    monkeypatch.setattr(T, "_checkpoint", lambda *a: (seen.append(torch.get_num_threads()), real(*a)))
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        T.train(tiny_toy_config(tmp_path, iterations=2, checkpoint_every=0, dvclive=False, threads=threads))
        assert seen and set(seen) == {expected} and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
