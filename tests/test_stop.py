"""Stopping a run stops its workers (issue 19): SIGTERM or SIGKILL to `run-notebook` while its
notebook's grid trains on the pool executor leaves no worker alive 15 s later, and a re-run then
finishes with the numbers of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.system  # subprocesses, signals, pool workers

ARGS = ["01_toy_mode_collapse", "--profile", "tiny", "-p", "iterations", "600", "-p", "dim", "16",
        "-p", "seeds", "[0, 1]"]


def _as_a_terminal_job() -> None:
    """SIGINT at its default, as in a terminal's foreground job: a suite started in the background of a
    non-interactive shell has SIGINT ignored, which its children would inherit (and then rightly ignore Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_notebook(root: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "WGAN_REPRO_EXECUTOR": "pool"}
    return subprocess.Popen([sys.executable, "-m", "wgan_repro.cli", "run-notebook", *ARGS,
                             "--results", str(root / "results"), "--runs", str(root / "runs")],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_a_terminal_job, **kw)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    proc = _run_notebook(root)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return json.loads((root / "results" / "01_toy_mode_collapse" / "metrics.json").read_text())


def _history_bytes(root: Path) -> int:
    return sum(h.stat().st_size for h in (root / "runs").rglob("history.jsonl"))


def _stop_mid_grid(root: Path, sig: int) -> None:
    """Start run-notebook in `root`, send `sig` once its pool workers train (its histories grew past what an
    earlier, stopped render had left), and check that nothing of it is alive 15 s later."""
    before = _history_bytes(root)
    proc = _run_notebook(root, start_new_session=True)
    deadline = time.monotonic() + 300
    workers: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        training = _history_bytes(root) > before
        workers = {p for p in _descendants(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()}
        if training and len(workers) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None and workers, f"the grid never started its pool workers ({sig!r})"
    everything = _descendants(proc.pid)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    time.sleep(15)
    assert not [p for p in everything if _alive(p)], f"processes of the run-notebook stopped by {sig!r} are alive"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_stopping_run_notebook_stops_its_pool_workers_and_a_rerun_matches(tmp_path, uninterrupted):
    """SIGTERM mid-grid, then SIGKILL to the render that resumed it: neither leaves a worker alive, the committed
    results are untouched, and the third render finishes with the uninterrupted numbers (one re-run serves both
    signals: it resumes from what each stop left)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _stop_mid_grid(tmp_path, sig)
        assert not (tmp_path / "results" / "01_toy_mode_collapse").exists()
    again = _run_notebook(tmp_path)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    assert json.loads((tmp_path / "results" / "01_toy_mode_collapse" / "metrics.json").read_text()) == uninterrupted


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_ctrl_c_in_a_terminal_gives_lines_not_tracebacks(tmp_path):
    """A terminal's Ctrl-C signals the whole foreground process group (issue 31): run-notebook, its threads,
    whatever shares its group. The console gets one line per run that was training (its checkpoint) and the
    stop's line, exit 130, nothing else; no process of the render is left."""
    proc = _run_notebook(tmp_path, start_new_session=True)  # its own group, as a terminal's foreground job
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if [h for h in (tmp_path / "runs").rglob("history.jsonl") if h.stat().st_size > 0]:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the render finished before it could be stopped"
    everything = _descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 130, err[-3000:]
    assert lines and lines[-1].startswith("wgan-repro: stopped (run-notebook)"), err[-3000:]
    assert all(ln.startswith("wgan-repro: ") and "checkpoint saved" in ln for ln in lines[:-1]), err[-3000:]
    assert "Traceback" not in err and "Task" not in err and len(lines) <= 1 + 4, err[-3000:]
    time.sleep(10)
    assert not [p for p in everything if _alive(p)], "processes of the stopped render are still alive"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_a_kernel_killed_from_outside_is_one_line_and_the_results_stay(tmp_path):
    """The system's OOM killer (or anyone) SIGKILLs the notebook's kernel: one line saying so, the previous
    results untouched (issue 32)."""
    proc = _run_notebook(tmp_path, start_new_session=True)
    deadline, kernel = time.monotonic() + 300, None
    while time.monotonic() < deadline and proc.poll() is None and kernel is None:
        if [h for h in (tmp_path / "runs").rglob("history.jsonl") if h.stat().st_size > 0]:
            kernel = next((p for p in _descendants(proc.pid)
                           if "ipykernel" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")), None)
        time.sleep(0.2)
    assert kernel is not None, "the kernel was never seen training"
    os.kill(kernel, signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("01_toy_mode_collapse: ")]
    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err and lines[-1].startswith("wgan-repro: error: notebook 01_toy_mode_collapse: its "
                                                          "kernel died"), err[-3000:]
    assert not (tmp_path / "results" / "01_toy_mode_collapse").exists()
