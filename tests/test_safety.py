"""Nothing lost, nothing half-done: bad input and crashes leave earlier results as they were,
and every error a user can cause is one line naming the field, the value and what is allowed."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, tiny_toy_config
from wgan_repro.cli import main
from wgan_repro.pipeline import NotebookFailed, run_notebook
from wgan_repro.rundir import RunExistsError, RunLockedError
from wgan_repro.train import train

BIN = Path(sys.executable).parent


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wgan-repro: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------- run folders
def test_a_second_process_cannot_train_into_a_locked_run_folder(tmp_path):
    from filelock import FileLock

    cfg = tiny_toy_config(tmp_path)
    Path(cfg.out_dir).mkdir(parents=True)
    with FileLock(str(Path(cfg.out_dir) / ".lock")):  # another trainer holds the folder
        with pytest.raises(RunLockedError, match=r"^out_dir=.* is not allowed: another process is training"):
            train(cfg)
    assert not (Path(cfg.out_dir) / "history.jsonl").exists()


def test_a_folder_with_a_history_but_no_checkpoint_is_not_overwritten(tmp_path):
    cfg = tiny_toy_config(tmp_path, checkpoint_every=0)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True)
    (out / "history.jsonl").write_text('{"iteration": 0}\n' * 300)
    with pytest.raises(RunExistsError, match=r"^out_dir=.* already holds a run \(history.jsonl\)"):
        train(cfg)
    assert len((out / "history.jsonl").read_text().splitlines()) == 300


def test_overwrite_clears_every_file_of_the_old_run(tmp_path):
    cfg = tiny_toy_config(tmp_path, keep_checkpoints=True, sample_every=4, iterations=8, checkpoint_every=4)
    train(cfg)
    out = Path(cfg.out_dir)
    assert (out / "checkpoints" / "ckpt_000008.pt").is_file() and (out / "samples" / "iter_000008.png").is_file()
    shorter = tiny_toy_config(tmp_path, keep_checkpoints=True, sample_every=0, iterations=4, checkpoint_every=0)
    train(shorter, overwrite=True)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["ckpt_000004.pt", "last.pt"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["iter_000004.png"]


def test_a_torn_checkpoint_write_is_cleaned_up(tmp_path):
    cfg = tiny_toy_config(tmp_path, iterations=4)
    train(cfg)
    torn = Path(cfg.out_dir) / "checkpoints" / ".last.pt.abc123.tmp"  # SIGKILL inside atomic_save
    torn.write_bytes(b"half a checkpoint")
    train(tiny_toy_config(tmp_path, iterations=6, resume=True))
    assert not torn.exists()


def test_resume_with_a_changed_field_is_one_line(tmp_path, capsys):
    cfg = tiny_toy_config(tmp_path, iterations=4)
    train(cfg)
    err = one_line_error(capsys, ["train", f"out_dir={cfg.out_dir}", "resume=true", "dataset=8gaussians",
                                  "arch=toy", "dim=32", "gp_weight=5", "d_norm=none", "iterations=6"])
    assert "is not allowed on resume" in err


@pytest.mark.parametrize("argv,start", [
    (["train", "out_dir=/proc/wgan-repro-x", "gp_weight=1", "d_norm=none", "iterations=1"],
     "out_dir='/proc/wgan-repro-x' is not allowed: cannot write"),
    (["train", "device=cuda", "gp_weight=1", "d_norm=none", "iterations=1"], "device='cuda' is not allowed here"),
    (["train", "seed=-1", "gp_weight=1", "d_norm=none"], "seed=-1 is not allowed"),
    (["train", "seed=99999999999999999999", "gp_weight=1", "d_norm=none"], "seed=99999999999999999999 is not allowed"),
    (["train", "lr_g=1e39", "gp_weight=1", "d_norm=none"], "lr_g=1e+39 is not allowed"),
    (["train", "seeds=[1"], "seeds='[1' is not allowed: not valid YAML"),
    (["train"], "gp_weight=0.0 is not allowed: loss 'wgan' needs a Lipschitz method"),
])
def test_cli_errors_are_one_line(capsys, tmp_path, argv, start):
    if "device=cuda" in argv and torch.cuda.is_available():
        pytest.skip("CUDA is visible here")
    if not any(a.startswith("out_dir=") for a in argv):
        argv.append(f"out_dir={tmp_path / 'run'}")
    err = one_line_error(capsys, argv)
    assert err.removeprefix("wgan-repro: error: ").startswith(start), err


def test_evaluate_errors_are_one_line(capsys, tmp_path):
    missing = tmp_path / "nope.pt"
    assert "no such file" in one_line_error(capsys, ["evaluate", str(missing)])
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    assert "not a wgan-repro checkpoint" in one_line_error(capsys, ["evaluate", str(corrupt)])
    cfg = tiny_toy_config(tmp_path, iterations=2)
    train(cfg)
    err = one_line_error(capsys, ["evaluate", str(Path(cfg.out_dir) / "checkpoints" / "last.pt")])
    assert "8gaussians (2-D points) run" in err


# ---------------------------------------------------------------------- notebooks and the pipeline
def _sentinel_results(root: Path, name: str) -> dict:
    out = root / name
    (out / "figures").mkdir(parents=True)
    files = {out / f"{name}.ipynb": "good notebook", out / "metrics.json": '{"good": 1}',
             out / "figures" / "good.png": "png"}
    for path, text in files.items():
        path.write_text(text)
    return files


def test_a_badly_typed_parameter_stops_before_a_kernel_starts(tmp_path, capsys):
    files = _sentinel_results(tmp_path / "results", "03_clipping_vs_gp")
    err = one_line_error(capsys, ["run-notebook", "03_clipping_vs_gp", "-p", "iterations", "abc",
                                  "--results", str(tmp_path / "results")])
    assert "clipping_vs_gp.iterations='abc' is not allowed: must be an integer" in err
    assert all(p.read_text() == text for p, text in files.items())


@pytest.mark.system
def test_a_failing_notebook_leaves_the_previous_results(tmp_path):
    files = _sentinel_results(tmp_path / "results", "06_vanishing_gradients")
    with pytest.raises(NotebookFailed, match=r"^notebook 06_vanishing_gradients failed in cell \d+: \w+Error"):
        run_notebook("06_vanishing_gradients", "tiny", {"d_steps": []}, results_root=tmp_path / "results",
                     html=False)
    assert all(p.read_text() == text for p, text in files.items())
    assert sorted(p.name for p in (tmp_path / "results" / "06_vanishing_gradients").iterdir()) == [
        "06_vanishing_gradients.ipynb", "figures", "metrics.json"]
    assert not list(tmp_path.rglob(".render-*"))  # the staging folder (inside results/) is gone


@pytest.mark.system
def test_run_notebook_keeps_its_runs_beside_its_results(tmp_path):
    run_notebook("06_vanishing_gradients", "tiny", results_root=tmp_path / "results", html=False)
    assert (tmp_path / "runs" / "06_vanishing_gradients").is_dir()
    assert json.loads((tmp_path / "results" / "06_vanishing_gradients" / "metrics.json").read_text())


@pytest.mark.system
@pytest.mark.skipif(shutil.which("dvc", path=str(BIN)) is None, reason="dvc is not installed in this environment")
def test_dvc_repro_with_a_bad_profile_keeps_the_committed_results(tmp_path):
    """issue 9.1: DVC used to delete a stage's outputs before run-notebook rejected the profile."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("dvc.yaml", "notebooks", "wgan_repro", "configs"):
        src = REPO / name
        shutil.copytree(src, work / name) if src.is_dir() else shutil.copy(src, work / name)
    (work / "params.yaml").write_text((REPO / "params.yaml").read_text().replace("profile: quick", "profile: bogus"))
    files = _sentinel_results(work / "results", "00_divergences")
    (work / "results" / "00_divergences" / "00_divergences.html").write_text("good html")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "PYTHONPATH": str(work)}
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=work, env=env, check=True)
    proc = subprocess.run([str(BIN / "dvc"), "repro", "-s", "divergences"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "profile='bogus' is not allowed" in proc.stderr + proc.stdout
    assert all(p.read_text() == text for p, text in files.items())
    assert (work / "results" / "00_divergences" / "00_divergences.html").read_text() == "good html"


def test_pipeline_outputs_survive_dvc_and_runs_are_no_dvc_output():
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                (path, opts), = entry.items()
                assert not path.startswith("runs/"), (name, path)
                if name != "data":
                    assert opts.get("persist") is True, (name, path)


@pytest.mark.system
def test_a_notebook_killed_mid_grid_continues_and_matches_an_uninterrupted_one(tmp_path):
    """issue 8.2: SIGKILL a notebook while its grid trains; the re-run loads the finished runs,
    resumes or retrains the rest, and ends with the same metrics as an uninterrupted execution."""
    import signal
    import time

    def cmd(root):
        return [str(BIN / "wgan-repro"), "run-notebook", "03_clipping_vs_gp", "--profile", "tiny",
                "-p", "iterations", "30", "-p", "log_every", "5", "--results", str(root / "results")]

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    # the uninterrupted render runs beside the one that is killed (2 cores): neither reads the other's folders
    uninterrupted = subprocess.Popen(cmd(clean), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen(cmd(killed), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = killed / "runs" / "03_clipping_vs_gp"
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in runs.rglob("last.pt") if torch.load(p, weights_only=True)["iteration"] == 30] \
            if runs.is_dir() else []
        if done:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the notebook finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "results" / "03_clipping_vs_gp" / "metrics.json").exists()
    subprocess.run(cmd(killed), check=True, capture_output=True)
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()[-2000:]
    a = json.loads((killed / "results" / "03_clipping_vs_gp" / "metrics.json").read_text())
    b = json.loads((clean / "results" / "03_clipping_vs_gp" / "metrics.json").read_text())
    assert a == b and "kid_gp" in a


# ---------------------------------------------------------------- params.yaml, the test profile, whole-folder swaps
@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "params.yaml=list is not allowed: a mapping of profile, profiles and the notebooks' sections"),
    ("profile: [quick]\n", "params.yaml: profile=['quick'] is not allowed: a profile name"),
    ("clippng_vs_gp:\n  seeds: [0]\n", "clippng_vs_gp={'seeds': [0]} is not allowed: not a notebook's section "
                                       "(did you mean clipping_vs_gp?)"),
    ("clipping_vs_gp: [1, 2]\n", "params.yaml: clipping_vs_gp=[1, 2] is not allowed: a mapping"),
    ("profiles: 3\n", "params.yaml: profiles is not allowed as written"),
])
def test_a_malformed_params_file_is_one_line_naming_the_field(tmp_path, text, message):
    from wgan_repro.config import ConfigError
    from wgan_repro.pipeline import notebook_parameters

    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError) as e:
        notebook_parameters("03_clipping_vs_gp", params_file=tmp_path / "params.yaml")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_the_test_profile_never_renders_into_the_committed_results(monkeypatch):
    import papermill

    from wgan_repro.config import ConfigError

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel started"))
    before = sorted((REPO / "results" / "00_divergences").iterdir()) if (REPO / "results").is_dir() else []
    with pytest.raises(ConfigError, match="profile='tiny' is not allowed into the committed results/"):
        run_notebook("00_divergences", "tiny")
    assert (sorted((REPO / "results" / "00_divergences").iterdir()) if before else []) == before


def test_a_render_swaps_in_whole_and_a_stop_mid_swap_restores_the_old_one(tmp_path):
    from wgan_repro.pipeline import _replace_outputs, _restore_swapped

    dest, new = tmp_path / "results" / "03_x", tmp_path / "results" / ".render-03_x-1-a" / "03_x"
    for folder, files in ((dest, ("metrics.json", "stale.csv")), (new, ("metrics.json", "curves.csv"))):
        (folder / "figures").mkdir(parents=True)
        for f in files:
            (folder / f).write_text(f"{folder.parent.name} {f}")
    _replace_outputs(new, dest)  # the new render, whole: no file of the old one survives beside it
    assert sorted(p.name for p in dest.iterdir()) == ["curves.csv", "figures", "metrics.json"]
    assert (dest / "metrics.json").read_text().startswith(".render") and not list(dest.parent.glob(".03_x.old-*"))
    os.replace(dest, dest.parent / ".03_x.old-99")  # a stop between the swap's two renames
    _restore_swapped(dest)
    assert (dest / "curves.csv").is_file() and not list(dest.parent.glob(".03_x.old-*"))


@pytest.mark.system
def test_sigterm_to_train_checkpoints_and_exits_130_with_one_line(tmp_path):
    """README and `wgan-repro --help` promise 130 for Ctrl-C and SIGTERM; train() used to re-raise SIGTERM (143)."""
    import signal
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "wgan_repro.cli", "train", "-c", str(REPO / "configs" / "toy_8gaussians_wgan_gp.yaml"),
           "iterations=100000", "dim=16", "batch_size=16", "log_every=1", "checkpoint_every=0", "sample_every=0",
           "progress=false", f"out_dir={out}"]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "history.jsonl").is_file()
                                               and (out / "history.jsonl").stat().st_size > 0):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "checkpoint saved" in err and "resume=true continues" in err and "Traceback" not in err
    assert (out / "checkpoints" / "last.pt").is_file()


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(tmp_path, monkeypatch):
    from wgan_repro import rundir

    cfg = tiny_toy_config(tmp_path, iterations=4, checkpoint_every=0, dvclive=False)
    train(cfg)
    out = Path(cfg.out_dir)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}

    def fails(self, iteration):
        raise RuntimeError("the data went missing")

    monkeypatch.setattr(rundir.RunDir, "start", fails)  # the new run fails before its first checkpoint
    with pytest.raises(RuntimeError, match="went missing"):
        train(tiny_toy_config(tmp_path, iterations=8, checkpoint_every=0, dvclive=False), overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before and not list(out.glob(".replaced-*"))  # the old run is back, whole
    monkeypatch.undo()
    train(tiny_toy_config(tmp_path, iterations=8, checkpoint_every=0, dvclive=False), overwrite=True)
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["iteration"] == 8
    assert not list(out.glob(".replaced-*"))


def test_a_kept_checkpoint_is_written_before_last_pt(tmp_path, monkeypatch):
    """A kill between the two writes must not lose ckpt_<k> for good: it comes first, so the older last.pt
    resumes, trains to k again and writes it again."""
    from wgan_repro import rundir

    order = []
    real = rundir.atomic_save
    monkeypatch.setattr(rundir, "atomic_save", lambda state, path: (order.append(Path(path).name), real(state, path)))
    train(tiny_toy_config(tmp_path, iterations=4, checkpoint_every=2, keep_checkpoints=True, dvclive=False))
    assert order == ["ckpt_000002.pt", "last.pt", "ckpt_000004.pt", "last.pt"]


@pytest.mark.parametrize("argv, message", [(["--device", "bogus"], "device='bogus' is not allowed: auto, cpu, cuda"),
                                           (["--seed", "-3"], "seed=-3 is not allowed"),
                                           (["--seed", "99999999999999999999"], "seed=99999999999999999999 is not")])
def test_evaluate_refuses_a_bad_device_or_seed_before_any_work(capsys, tmp_path, argv, message):
    cfg = tiny_toy_config(tmp_path, iterations=1, checkpoint_every=0, dvclive=False)
    err = one_line_error(capsys, ["evaluate", str(Path(cfg.out_dir) / "checkpoints" / "last.pt"), *argv])
    assert message in err
