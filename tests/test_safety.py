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
    assert not list(tmp_path.glob(".render-*"))  # the staging folder is gone


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

    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd(killed), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = killed / "runs" / "03_clipping_vs_gp"
    deadline = time.time() + 240
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
    clean = tmp_path / "clean"
    subprocess.run(cmd(clean), check=True, capture_output=True)
    a = json.loads((killed / "results" / "03_clipping_vs_gp" / "metrics.json").read_text())
    b = json.loads((clean / "results" / "03_clipping_vs_gp" / "metrics.json").read_text())
    assert a == b and "kid_gp" in a
