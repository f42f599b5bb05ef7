"""A kill-anywhere sweep of `wgan-repro train` (issue 32): many SIGKILLs at random moments of a run that
checkpoints every iteration, each followed by `resume=true`, against an uninterrupted run of the same config.

The claim checked is README's "SIGKILL anywhere, resume, same numbers": the final weights of generator and critic,
both optimisers' states and every logged history field (wall-clock fields aside) must be bit-identical. Two
threads, as a user's `train` would run with threads=2 on this machine.

    python benchmarks/kill_anywhere.py [--kills 25] [--cases toy,mnist] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _machine import machine

REPO = Path(__file__).resolve().parents[1]
CASES = {  # small, so that a kill lands in every phase: a critic step, a generator step, a checkpoint write
    "toy": ["-c", "configs/toy_8gaussians_wgan_gp.yaml", "dim=32", "batch_size=64", "iterations=150"],
    "mnist": ["-c", "configs/mnist_wgan_gp.yaml", "dim=4", "batch_size=16", "iterations=40"],
}
COMMON = ["checkpoint_every=1", "sample_every=50", "log_every=1", "threads=2", "dvclive=false"]
UNTIMED = ("wall_time", "seconds_per_iteration")


def _cmd(case: str, out: Path, resume: bool) -> list[str]:
    return [sys.executable, "-m", "wgan_repro.cli", "train", *CASES[case], *COMMON, f"out_dir={out}",
            *(["resume=true"] if resume else [])]


def fingerprint(out: Path) -> dict:
    """sha256 of every tensor of the final checkpoint, and of the logged history without its clocks."""
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
    h = hashlib.sha256()

    def walk(x, key=""):
        if isinstance(x, torch.Tensor):
            h.update(key.encode() + x.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(x, dict):
            for k in sorted(x, key=str):
                walk(x[k], f"{key}/{k}")
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{key}/{i}")

    walk({k: v for k, v in state.items() if k in ("generator", "critic", "opt_g", "opt_d", "stream", "rng_cpu")})
    history = [{k: v for k, v in json.loads(line).items() if k not in UNTIMED}
               for line in (out / "history.jsonl").read_text().splitlines() if line.strip()]
    return {"weights": h.hexdigest(), "history": hashlib.sha256(json.dumps(history).encode()).hexdigest(),
            "iteration": state["iteration"], "history_rows": len(history)}


def _rows(out: Path) -> int:
    try:
        return (out / "history.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def sweep(case: str, kills: int, root: Path, rng: random.Random) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    clean = root / f"{case}-clean"
    t0 = time.perf_counter()
    done = subprocess.run(_cmd(case, clean, False), cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # e.g. MNIST without WGAN_REPRO_DATA: the train command's own line
        raise SystemExit(f"{case}: {done.stderr.strip().splitlines()[-1]}")
    seconds = time.perf_counter() - t0
    reference = fingerprint(clean)
    iterations = reference["iteration"]
    killed, out, done, at = 0, root / f"{case}-killed", False, []
    while not done:
        proc = subprocess.Popen(_cmd(case, out, resume=out.exists()), cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if killed < kills:
            # after this process has logged at least one more iteration (start-up alone is not "anywhere"),
            # then at a random moment within about the next few iterations: mid-step or mid-checkpoint
            rows = _rows(out)
            deadline = time.monotonic() + 120
            while proc.poll() is None and _rows(out) <= rows and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, max(0.2, 3 * seconds / iterations)))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
                last = out / "checkpoints" / "last.pt"
                at.append(torch.load(last, weights_only=True)["iteration"] if last.exists() else 0)
                continue
        _, err = proc.communicate()
        if proc.returncode != 0:
            return {"case": case, "error": err.strip().splitlines()[-1:], "kills": killed}
        done = True
    got = fingerprint(out)
    return {"case": case, "kills": killed, "killed_at_iterations": at, "uninterrupted_seconds": round(seconds, 1),
            "identical_weights": got["weights"] == reference["weights"],
            "identical_history": got["history"] == reference["history"],
            "iteration": got["iteration"], "history_rows": got["history_rows"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=25)
    ap.add_argument("--cases", default="toy,mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "kill_anywhere.json"
    kept = json.loads(path.read_text())["rows"] if path.is_file() else []  # other cases' rows of an earlier sweep
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            m = machine()
            row = {**sweep(case, args.kills, Path(tmp), rng), "date": m["date"]}
            kept = [r for r in kept if r["case"] != case] + [row]
            notes = ("SIGKILL at random moments, resume=true after each, against an uninterrupted run of the same "
                     "config (checkpoint every iteration, threads=2): identical_* compare sha256 of the final "
                     "weights, optimiser and data-stream states, and of the history without its clocks")
            path.write_text(json.dumps({"machine": m, "notes": notes, "rows": kept}, indent=2) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
