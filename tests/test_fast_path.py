"""The graph-ready iteration (issue 30): no host-to-device copy per step, K runs in one process give
each run's own numbers, the run's clock continues across a resumption, and on CUDA the captured
graphs give the same numbers for the same seed (skipped without CUDA)."""
import pytest
import torch

from tests.conftest import tiny_toy_config
from wgan_repro import objectives
from wgan_repro.config import ConfigError, TrainConfig
from wgan_repro.grid import run_key
from wgan_repro.train import train, train_many

TIMING = {"seconds_per_iteration", "wall_time"}


def curve(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def image_config(tmp_path, name="run", **kw):
    values = dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=4, loss="wgan", gp_weight=10.0,
                  d_norm="none", optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=8, n_critic=2, iterations=4,
                  train_size=40, sample_every=0, checkpoint_every=0, log_every=100, dvclive=False, progress=False,
                  out_dir=str(tmp_path / name))
    values.update(kw)
    return TrainConfig(**values)


def _count_copies(monkeypatch, cfg) -> int:
    """Calls of Tensor.to / .cuda / .copy_ from another device made by one training run."""
    calls = {"n": 0}
    to, cuda = torch.Tensor.to, torch.Tensor.cuda

    def counting_to(self, *a, **k):
        calls["n"] += 1
        return to(self, *a, **k)

    def counting_cuda(self, *a, **k):
        calls["n"] += 1
        return cuda(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "to", counting_to)
    monkeypatch.setattr(torch.Tensor, "cuda", counting_cuda)
    try:
        train(cfg)
    finally:
        monkeypatch.undo()
    return calls["n"]


@pytest.mark.parametrize("kind", ["toy", "images"])
def test_no_host_to_device_copy_per_training_step(tmp_path, monkeypatch, kind):
    """Twice the iterations (and critic steps), the same number of `.to` calls: none happens per
    step, only at start-up, on logged iterations and once per epoch (before issue 30 each critic step
    copied its batch's indices, or the toy centres, to the device)."""
    def make(name, iterations):
        if kind == "toy":
            return tiny_toy_config(tmp_path / name, iterations=iterations, dvclive=False, log_every=100,
                                   checkpoint_every=0)
        return image_config(tmp_path, name, iterations=iterations, train_size=160)  # no epoch ends: 16 batches of 8

    _count_copies(monkeypatch, make("warm", 2))  # once per process: the toy centres' copy to the device
    short, long = _count_copies(monkeypatch, make("a", 4)), _count_copies(monkeypatch, make("b", 8))
    assert long == short


def test_an_epoch_boundary_gathers_the_batches_an_index_slice_would(tmp_path):
    """Device-side gathering across epochs: 40 images, batch 8, 2 critic steps x 6 iterations = 12 batches
    (2.4 epochs); every batch equals the slice of that epoch's seeded permutation."""
    from wgan_repro.stream import BatchStream

    cfg = image_config(tmp_path)
    stream = BatchStream(cfg, torch.device("cpu"))
    seen = [stream.next() for _ in range(12)]
    reference = BatchStream(cfg, torch.device("cpu"))
    for k, batch in enumerate(seen):
        epoch, pos = divmod(k, 5)
        perm = torch.randperm(40, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
        expected = (reference.source[perm[pos * 8:(pos + 1) * 8]].float() / 127.5) - 1
        assert torch.allclose(batch, expected, atol=1e-6), k
    resumed = BatchStream(cfg, torch.device("cpu"))
    resumed.load_state_dict({"epoch": 1, "pos": 24})
    assert torch.equal(resumed.next(), seen[8])


def test_k_runs_in_one_process_give_each_run_its_own_numbers(tmp_path):
    """train_many interleaves the runs' iterations; each draws only from its own generator, so every run
    equals the same config trained alone, bit for bit (a toy GP run, a clipped one, an image GP run)."""
    cfgs = [lambda p: tiny_toy_config(p, iterations=6, seed=1, dvclive=False),
            lambda p: tiny_toy_config(p, iterations=9, seed=2, gp_weight=0.0, clip_value=0.01, optimizer="rmsprop",
                                      dvclive=False),
            lambda p: image_config(p, iterations=5, log_every=1)]
    alone = [train(make(tmp_path / f"alone{i}")) for i, make in enumerate(cfgs)]
    together = train_many([make(tmp_path / f"together{i}") for i, make in enumerate(cfgs)])
    for a, b in zip(alone, together):
        assert curve(a.history) == curve(b.history)
        for pa, pb in zip([*a.generator.parameters(), *a.critic.parameters()],
                          [*b.generator.parameters(), *b.critic.parameters()]):
            assert torch.equal(pa, pb)


def test_train_many_refuses_two_runs_in_one_folder(tmp_path):
    cfg = tiny_toy_config(tmp_path, iterations=2)
    with pytest.raises(ConfigError, match="out_dir"):
        train_many([cfg, cfg])


def test_wall_time_continues_across_a_resumption(tmp_path):
    """A resumed run's clock starts where its checkpoint's stopped (it restarted at 0 before)."""
    first = train(tiny_toy_config(tmp_path, iterations=6, checkpoint_every=3))
    stopped_at = first.history[-1]["wall_time"]
    resumed = train(tiny_toy_config(tmp_path, iterations=10, checkpoint_every=3, resume=True))
    times = [r["wall_time"] for r in resumed.history]
    assert times == sorted(times)
    assert times[6] >= stopped_at > 0


def test_foreach_clipping_equals_a_clamp_per_parameter():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    expected = [p.detach().clamp(-0.05, 0.05) for p in net.parameters()]
    objectives.clip_weights(net, 0.05)
    assert all(torch.equal(p, e) for p, e in zip(net.parameters(), expected))


def test_graphs_and_precision_fields():
    base = dict(dataset="8gaussians", gp_weight=10.0, d_norm="none", progress=False)
    with pytest.raises(ConfigError, match="graphs='sometimes' is not allowed"):
        TrainConfig(**base, graphs="sometimes")
    with pytest.raises(ConfigError, match="precision='fp16' is not allowed"):
        TrainConfig(**base, precision="fp16")
    # graphs never changes a run's numbers; precision does, and its default keeps earlier runs' keys
    assert run_key(TrainConfig(**base, graphs="off")) == run_key(TrainConfig(**base))
    assert run_key(TrainConfig(**base, precision="bf16")) != run_key(TrainConfig(**base))
    image = TrainConfig(dataset="cifar10", arch="gp-dcgan", gp_weight=10.0, d_norm="none", optimizer="adam",
                        progress=False)
    assert run_key(image) == "2c645ae13c8f"  # the key this config had before the fields existed


def test_bf16_is_refused_on_the_cpu(tmp_path):
    with pytest.raises(ConfigError, match="precision='bf16' is not allowed on cpu"):
        train(tiny_toy_config(tmp_path, device="cpu", precision="bf16"))
    assert not (tmp_path / "run").exists()


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the GPU machine, never CI)")


@CUDA
@pytest.mark.parametrize("kind", ["toy", "images"])
def test_cuda_graphs_same_seed_same_numbers(tmp_path, kind):
    make = (lambda p, **k: tiny_toy_config(p, device="cuda", iterations=12, log_every=3, dvclive=False, **k)) \
        if kind == "toy" else (lambda p, **k: image_config(p, device="cuda", iterations=12, log_every=3, **k))
    a, b = train(make(tmp_path / "a")), train(make(tmp_path / "b"))
    eager = train(make(tmp_path / "c", graphs="off"))
    assert curve(a.history) == curve(b.history)
    for pa, pb in zip(a.generator.parameters(), b.generator.parameters()):
        assert torch.equal(pa, pb)
    # the graphs replay the eager kernels: the curves agree closely (not necessarily to the bit)
    wa = torch.tensor([r["wasserstein_estimate"] for r in a.history])
    we = torch.tensor([r["wasserstein_estimate"] for r in eager.history])
    assert torch.allclose(wa, we, rtol=1e-3, atol=1e-4), (wa, we)


@CUDA
def test_cuda_graphs_never_sync_between_logs(tmp_path, monkeypatch):
    """With graphs, an unlogged iteration makes the host wait for the device zero times."""
    from wgan_repro import train as T

    cfg = image_config(tmp_path, device="cuda", iterations=20, log_every=10)
    original = T._Run.iteration

    def watched(self):
        unlogged = self.it % self.cfg.log_every != 0 and self.it + 1 != self.cfg.iterations and self.graphs is not None
        torch.cuda.set_sync_debug_mode("error" if unlogged else "default")
        try:
            original(self)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(T._Run, "iteration", watched)
    train(cfg)


def test_gpu_groups_spread_jobs_over_devices_then_cut_them_per_gpu():
    from wgan_repro.grid import gpu_groups

    jobs = [{"out_dir": str(i), "device": "auto"} for i in range(7)]
    groups = gpu_groups(jobs, ["cuda:0", "cuda:1"], per_gpu=2)
    assert [[j["out_dir"] for j in g] for g in groups] == [["0", "2"], ["1", "3"], ["4", "6"], ["5"]]
    assert {j["device"] for j in groups[0]} == {"cuda:0"} and {j["device"] for j in groups[1]} == {"cuda:1"}
    assert sorted(j["out_dir"] for g in groups for j in g) == sorted(j["out_dir"] for j in jobs)


def test_a_group_of_runs_in_one_process_equals_runs_one_by_one(tmp_path):
    """The pool's GPU unit of work (K runs, one process) on the CPU: the same runs as one at a time."""
    from wgan_repro.grid import _train_group, _train_one
    from wgan_repro.rundir import load_run

    cfgs = [tiny_toy_config(tmp_path / f"g{s}", seed=s, iterations=5, dvclive=False) for s in (0, 1)]
    singles = [tiny_toy_config(tmp_path / f"s{s}", seed=s, iterations=5, dvclive=False) for s in (0, 1)]
    _train_group([c.to_dict() for c in cfgs])
    for c in singles:
        _train_one(c.to_dict())
    for a, b in zip(cfgs, singles):
        ra, rb = load_run(a), load_run(b)
        assert curve(ra.history) == curve(rb.history)
        assert all(torch.equal(x, y) for x, y in zip(ra.generator.parameters(), rb.generator.parameters()))


STOP_MANY = """
import sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.conftest import tiny_toy_config
from wgan_repro.train import train_many
train_many([tiny_toy_config(Path({tmp!r}) / f"r{{s}}", seed=s, iterations=100000, checkpoint_every=0,
                            dvclive=False, log_every=20) for s in (0, 1)])
"""


@pytest.mark.system
def test_sigint_to_k_runs_in_one_process_checkpoints_every_run_and_each_resumes_its_curve(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO
    from wgan_repro.rundir import read_checkpoint

    proc = subprocess.Popen([sys.executable, "-c", STOP_MANY.format(repo=str(REPO), tmp=str(tmp_path / "k"))],
                            stderr=subprocess.PIPE, text=True)
    hist = tmp_path / "k" / "r1" / "run" / "history.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (hist.is_file() and len(hist.read_text().splitlines()) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and err.count("checkpoint saved") == 2, err[-2000:]
    stops = [read_checkpoint(tmp_path / "k" / f"r{s}" / "run" / "checkpoints" / "last.pt")["iteration"] for s in (0, 1)]
    assert all(0 < it < 100000 for it in stops) and abs(stops[0] - stops[1]) <= 1, stops
    for s, it in zip((0, 1), stops):  # each resumes to the curve of an uninterrupted run
        resumed = train(tiny_toy_config(tmp_path / "k" / f"r{s}", seed=s, iterations=it + 5, checkpoint_every=0,
                                        dvclive=False, log_every=20, resume=True))
        full = train(tiny_toy_config(tmp_path / f"full{s}", seed=s, iterations=it + 5, checkpoint_every=0,
                                     dvclive=False, log_every=20))
        assert curve(resumed.history) == curve(full.history)
        assert all(torch.equal(a, b) for a, b in zip(resumed.generator.parameters(), full.generator.parameters()))


@pytest.mark.system
def test_ctrl_c_of_the_train_command_says_resume_true(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    out = tmp_path / "run"
    args = ["train", "-c", "configs/toy_8gaussians_wgan_gp.yaml", "iterations=100000", "dim=16",
            "checkpoint_every=0", "log_every=20", "progress=false", "dvclive=false", f"out_dir={out}"]
    proc = subprocess.Popen([sys.executable, "-m", "wgan_repro.cli", *args], cwd=REPO, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "history.jsonl").is_file()
                                               and len((out / "history.jsonl").read_text().splitlines()) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "resume=true" in err.strip().splitlines()[-1] and "checkpoint saved" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="the warning is for machines without CUDA")
def test_the_paper_profile_on_a_cpu_warns_before_the_data_stage_works(monkeypatch, capsys):
    from wgan_repro import data, pipeline

    class Started(Exception):
        pass

    def first_work(*a, **k):
        raise Started

    monkeypatch.setattr(data, "load_image_tensor", first_work)
    with pytest.raises(Started):
        pipeline.prepare_data("paper")
    assert "profile=paper on a machine without a visible CUDA device" in capsys.readouterr().err


def test_unless_committed_keeps_a_render_of_the_same_parameters_and_renders_any_other(tmp_path, monkeypatch):
    import json

    import papermill

    from wgan_repro import pipeline

    name = "09_random_architectures"
    params = pipeline.notebook_parameters(name, "quick")
    folder = tmp_path / "results" / name
    folder.mkdir(parents=True)
    recorded = {**params, "out_dir": f"results/{name}", "runs_dir": f"runs/{name}", "results_root": "results"}
    (folder / f"{name}.ipynb").write_text(json.dumps({"metadata": {"papermill": {"parameters": recorded}}}))
    calls = []

    def executed(*a, **k):
        calls.append(k["parameters"])
        raise RuntimeError("rendered")

    monkeypatch.setattr(papermill, "execute_notebook", executed)
    assert pipeline.run_notebook(name, "quick", results_root=tmp_path / "results", unless_committed=True) is None
    assert calls == []
    with pytest.raises(RuntimeError, match="rendered"):  # other parameters: it renders
        pipeline.run_notebook(name, "quick", {"iterations": 50}, results_root=tmp_path / "results",
                              unless_committed=True)
    with pytest.raises(RuntimeError, match="rendered"):  # without the flag: it renders
        pipeline.run_notebook(name, "quick", results_root=tmp_path / "results")
    assert len(calls) == 2 and calls[0]["iterations"] == 50
