"""A run's folder: the plumbing around the training loop.

    out_dir/
      .lock                  held while a process trains here (a second one gets one line)
      config.json            the run's config
      history.jsonl          one row per logged generator iteration
      checkpoints/last.pt    models, optimisers, RNG states, data position (atomic writes)
      checkpoints/ckpt_*.pt  every checkpoint, with keep_checkpoints
      samples/iter_*.png     fixed-noise sample figures
      dvclive/               the same rows for `dvc plots`

Nothing in a folder that holds a run is replaced without being asked: `resume` continues it,
`overwrite` clears every file of the old run first (so no stale checkpoint can be scored later).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from .config import ConfigError, TrainConfig
from .data import atomic_save

RUN_FILES = ("config.json", "history.jsonl")
RUN_FOLDERS = ("checkpoints", "samples", "dvclive", "scores")


class RunExistsError(FileExistsError):
    """out_dir already holds a run and neither resume nor overwrite was asked for."""


class RunLockedError(RuntimeError):
    """Another process is training into the same out_dir."""


class RunDir:
    """Open with `with RunDir(cfg, overwrite) as run:`; every check happens before anything is written."""

    def __init__(self, cfg: TrainConfig, overwrite: bool = False):
        self.cfg, self.overwrite = cfg, overwrite
        self.path = Path(cfg.out_dir)
        self.checkpoints = self.path / "checkpoints"
        self.last = self.checkpoints / "last.pt"
        self._lock = None
        self._history = None
        self.live = None

    # ------------------------------------------------------------------ opening
    def __enter__(self) -> RunDir:
        from filelock import FileLock, Timeout

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-probe-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as e:
            raise ConfigError(f"out_dir={str(self.path)!r} is not allowed: cannot write there "
                              f"({e.strerror or e})") from None
        self._lock = FileLock(str(self.path / ".lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            self._lock = None
            raise RunLockedError(f"out_dir={str(self.path)!r} is not allowed: another process is training "
                                 f"into it (lock {self.path / '.lock'}); wait for it or pick another out_dir") from None
        try:
            self._check_existing()
        except BaseException:
            self._release()
            raise
        return self

    def _check_existing(self) -> None:
        # a SIGKILL during a checkpoint write leaves a temporary file: nobody else writes here now
        for tmp in self.checkpoints.glob(".*.tmp") if self.checkpoints.is_dir() else []:
            tmp.unlink(missing_ok=True)
        found = [n for n in RUN_FILES + RUN_FOLDERS if (self.path / n).exists()]
        if not found:
            return
        if self.overwrite:
            for name in found:
                target = self.path / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        elif not self.cfg.resume:
            raise RunExistsError(f"out_dir={str(self.path)!r} is not allowed: it already holds a run "
                                 f"({', '.join(found)}); resume=true continues it, --overwrite replaces it, "
                                 f"another out_dir keeps it")

    def resume_state(self, device: torch.device, runtime_fields: set[str]) -> dict | None:
        """The last checkpoint when resuming (its config must match ours), else None."""
        if not (self.cfg.resume and self.last.is_file()):
            return None
        try:
            state = torch.load(self.last, map_location=device, weights_only=False)
        except Exception as e:
            raise ConfigError(f"resume=True is not allowed: {self.last} cannot be read ({e})") from None
        saved = state["config"]
        for key, value in self.cfg.to_dict().items():
            if key not in runtime_fields and saved.get(key) != value:
                raise ConfigError(f"{key}={value!r} is not allowed on resume: the checkpoint in {self.path} "
                                  f"was trained with {key}={saved.get(key)!r}")
        return state

    def start(self, iteration: int) -> None:
        """Drop log rows past the checkpoint we continue from; open the logs."""
        truncate_logs(self.path, iteration)
        (self.path / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        self._history = (self.path / "history.jsonl").open("a")
        if self.cfg.dvclive:
            from dvclive import Live

            self.live = Live(dir=str(self.path / "dvclive"), resume=iteration > 0, save_dvc_exp=False,
                             dvcyaml=None, report=None)

    # ------------------------------------------------------------------ writing
    def log(self, row: dict) -> None:
        self._history.write(json.dumps(row) + "\n")
        self._history.flush()
        if self.live is not None:
            self.live.step = row["iteration"]
            for key, value in row.items():
                if key != "iteration":
                    self.live.log_metric(key, value)
            # sync(), not next_step(): the step is set from the row, and next_step() also writes
            # DVCLive's VS Code signal, one file per repository (.dvc/tmp/exps/run/
            # DVCLIVE_STEP_COMPLETED) that concurrent runs race to write and delete
            self.live.sync()

    def save_checkpoint(self, state: dict) -> None:
        atomic_save(state, self.last)
        if self.cfg.keep_checkpoints:
            atomic_save(state, self.checkpoints / f"ckpt_{state['iteration']:06d}.pt")

    def last_good(self) -> str:
        if not self.last.is_file():
            return "none written yet"
        return f"{self.last} (iteration {torch.load(self.last, weights_only=False)['iteration']})"

    def sample_path(self, iteration: int) -> Path:
        return self.path / "samples" / f"iter_{iteration:06d}.png"

    def log_image(self, path: Path) -> None:
        if self.live is not None:
            self.live.log_image(f"samples/{path.name}", path)

    # ------------------------------------------------------------------ closing
    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __exit__(self, *exc) -> None:
        try:
            if self._history is not None:
                self._history.close()
            if self.live is not None:
                self.live.end()
        finally:
            self._release()


def truncate_logs(out_dir: Path, start: int) -> None:
    """Drop log rows from iterations >= start (written after the checkpoint we resume from)."""
    hist = out_dir / "history.jsonl"
    if hist.is_file():
        rows = [r for r in hist.read_text().splitlines() if r and json.loads(r)["iteration"] < start]
        hist.write_text("".join(r + "\n" for r in rows))
    for tsv in (out_dir / "dvclive" / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        kept = [lines[0]] + [ln for ln in lines[1:] if int(ln.split("\t")[0]) < start]
        tsv.write_text("\n".join(kept) + "\n")
    metrics = out_dir / "dvclive" / "metrics.json"
    if metrics.is_file():
        data = json.loads(metrics.read_text())
        data["step"] = max(start - 1, 0)
        metrics.write_text(json.dumps(data))


def read_history(out_dir: str | Path) -> list[dict]:
    """Rows of history.jsonl (one per logged generator iteration)."""
    path = Path(out_dir) / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []
