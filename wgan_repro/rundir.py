"""A run's folder: the plumbing around the training loop.

    out_dir/
      .lock                  held while a process trains here (a second one gets one line)
      config.json            the run's config
      runtime.json           the device it resolved to, torch version, threads
      history.jsonl          one row per logged generator iteration
      checkpoints/last.pt    models, optimisers, RNG states, data position (atomic writes)
      checkpoints/ckpt_*.pt  every checkpoint, with keep_checkpoints
      samples/iter_*.png     fixed-noise sample figures
      dvclive/               the same rows through DVCLive, with dvclive=true (one run's `dvc plots`)

Nothing in a folder that holds a run is replaced without being asked: `resume` continues it,
`overwrite` sets every file of the old run aside (`.replaced-<pid>/`, so no stale checkpoint can be scored
later) and removes them once the new run has written its first checkpoint; a new run that fails before
that puts the old one back.
This module is the only one that knows the layout inside a run's folder (`grid.grid_configs` names the
folders of a grid's runs, out_root/<variant>/seed<k>-<config key>); `read_checkpoint` is the only reader of a
checkpoint file (weights-only: a checkpoint cannot run code), used by `finished`, `load_run`,
`load_generator` and resumption.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .config import ON_RESUME, ConfigError, TrainConfig, WganReproError, config_mismatch, fields_with
from .device import available_memory, resolve_device
from .files import atomic_save, atomic_write_text, code_hash  # noqa: F401 (code_hash: rundir.code_hash)

RUN_FILES = ("config.json", "runtime.json", "history.jsonl")
RUN_FOLDERS = ("checkpoints", "samples", "dvclive", "scores")


class RunExistsError(WganReproError, FileExistsError):
    """out_dir already holds a run and neither resume nor overwrite was asked for."""


class RunLockedError(WganReproError, RuntimeError):
    """Another process is training into the same out_dir."""


@dataclass
class TrainResult:
    cfg: TrainConfig
    generator: nn.Module
    critic: nn.Module
    out_dir: Path
    history: list[dict] = field(default_factory=list)
    code: str | None = None  # the training code's hash that made it (None: trained before hashes were recorded)


# ---------------------------------------------------------------------- reading a run
def last_checkpoint(out_dir: str | Path) -> Path:
    """The run's newest checkpoint file (it may not exist yet)."""
    return Path(out_dir) / "checkpoints" / "last.pt"


def kept_checkpoint(out_dir: str | Path, iteration: int) -> Path:
    """The checkpoint kept at `iteration` (keep_checkpoints; it may not exist)."""
    return Path(out_dir) / "checkpoints" / f"ckpt_{iteration:06d}.pt"


def kept_checkpoints(out_dir: str | Path) -> list[Path]:
    """Every kept checkpoint (keep_checkpoints), oldest first."""
    return sorted((Path(out_dir) / "checkpoints").glob("ckpt_*.pt"))


def sample_figures(out_dir: str | Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every fixed-noise sample figure the run saved (sample_every), in order."""
    return [(int(p.stem.split("_")[1]), p) for p in sorted((Path(out_dir) / "samples").glob("iter_*.png"))]


def checkpoint_iteration(path: Path, cfg: TrainConfig) -> int:
    return cfg.iterations if path.name == "last.pt" else int(path.stem.split("_")[1])


def read_checkpoint(path: str | Path, map_location="cpu", mmap: bool = False) -> dict:
    """The one reader of checkpoint files: weights-only, so a file cannot run code. A file that is
    missing or not a wgan-repro checkpoint is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint={str(path)!r} is not allowed: no such file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        if not (isinstance(state, dict) and {"iteration", "config", "generator", "critic"} <= set(state)):
            raise ValueError("it lacks iteration, config, generator or critic")
    except Exception as e:
        raise ConfigError(f"checkpoint={str(path)!r} is not allowed: not a wgan-repro checkpoint "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return state


def finished(cfg: TrainConfig) -> bool:
    """The run's last checkpoint is at its final iteration and was trained with this config (a folder holding
    another config's checkpoint is not this run: train() then refuses or, on resume, names the field)."""
    try:
        state = read_checkpoint(last_checkpoint(cfg.out_dir), mmap=True)
    except ConfigError:  # missing, torn or foreign: train() decides what to do with it
        return False
    return state["iteration"] == cfg.iterations and config_mismatch(state["config"], cfg) is None


def load_generator(checkpoint: str | Path, device: str = "cpu") -> tuple[nn.Module, TrainConfig]:
    """The generator and config stored in a checkpoint file (one line when it is not one)."""
    from .models import build_generator

    state = read_checkpoint(checkpoint, map_location=device)
    try:
        cfg = TrainConfig(**{**state["config"], "progress": False})
        with torch.device("meta"):  # count before allocating: a crafted config cannot get the process killed
            need = 4 * sum(p.numel() for p in build_generator(cfg).parameters())
        have = available_memory(device)
        if have and need > have:
            raise ConfigError(f"checkpoint={str(checkpoint)!r} is not allowed: its generator (dim={cfg.dim}) needs "
                              f"{need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB is available")
        g = build_generator(cfg)
        g.load_state_dict(state["generator"])
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"checkpoint={str(checkpoint)!r} is not allowed: its generator does not load "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return g.to(device).eval(), cfg


def load_run(cfg: TrainConfig, iteration: int | None = None) -> TrainResult:
    """A finished run from its folder: TrainResult with generator, critic and history.

    iteration: the run as it was after that many generator iterations, from a kept checkpoint
    (`keep_checkpoints`), with the history before it. Same seed, same RNG stream: it is the run
    that would have stopped there, so a long run also gives every shorter one.
    """
    from .models import build_models

    if iteration is None or iteration == cfg.iterations:
        path, iteration = last_checkpoint(cfg.out_dir), cfg.iterations
    else:
        path = kept_checkpoint(cfg.out_dir, iteration)
        if not path.is_file():
            kept = [checkpoint_iteration(p, cfg) for p in kept_checkpoints(cfg.out_dir)]
            raise ConfigError(f"iteration={iteration} is not allowed for {cfg.out_dir}: "
                              f"kept checkpoints are at {kept or 'none (keep_checkpoints is off)'}")
    state = read_checkpoint(path)
    mismatch = config_mismatch(state["config"], cfg)
    if mismatch:
        raise ConfigError(f"out_dir={str(cfg.out_dir)!r} is not allowed: its checkpoint {path.name} was trained "
                          f"with another config ({mismatch}): not this run")
    generator, critic = build_models(cfg)
    generator.load_state_dict(state["generator"])
    critic.load_state_dict(state["critic"])
    device = resolve_device(cfg.device)
    history = [row for row in read_history(cfg.out_dir) if row["iteration"] < iteration]
    return TrainResult(cfg, generator.to(device), critic.to(device), Path(cfg.out_dir), history, state.get("code"))


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
        self.stop_requested = None

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

    def _settle_replaced(self, keep_new: bool) -> None:
        """An overwritten run set aside (`.replaced-<pid>`, ours or a killed process's): removed when the new
        run has a checkpoint (keep_new), else put back in place of the new run's files."""
        for aside in self.path.glob(".replaced-*"):
            if not keep_new:
                for name in RUN_FILES + RUN_FOLDERS:
                    target = self.path / name
                    if target.exists():
                        shutil.rmtree(target) if target.is_dir() else target.unlink()
                for item in aside.iterdir():
                    os.replace(item, self.path / item.name)
            shutil.rmtree(aside, ignore_errors=True)

    def _check_existing(self) -> None:
        # a SIGKILL during a checkpoint write leaves a temporary file: nobody else writes here now
        for tmp in self.checkpoints.glob(".*.tmp") if self.checkpoints.is_dir() else []:
            tmp.unlink(missing_ok=True)
        self._settle_replaced(keep_new=self.last.is_file())  # a killed --overwrite: whichever run has a checkpoint
        found = [n for n in RUN_FILES + RUN_FOLDERS if (self.path / n).exists()]
        if not found:
            return
        if self.overwrite:  # set aside, removed once the new run has its first checkpoint, restored if it fails first
            aside = self.path / f".replaced-{os.getpid()}"
            aside.mkdir()
            for name in found:
                os.replace(self.path / name, aside / name)
        elif not self.cfg.resume:
            raise RunExistsError(f"out_dir={str(self.path)!r} is not allowed: it already holds a run "
                                 f"({', '.join(found)}); resume=true continues it, --overwrite replaces it, "
                                 f"another out_dir keeps it")

    def resume_state(self, device: torch.device) -> dict | None:
        """The last checkpoint when resuming (its config must match ours but for ON_RESUME fields), else None."""
        if not (self.cfg.resume and self.last.is_file()):
            return None
        state = read_checkpoint(self.last, map_location=device)
        saved, may_differ = state["config"], fields_with(ON_RESUME)
        defaults = TrainConfig.__dataclass_fields__
        for key, value in self.cfg.to_dict().items():
            # a field added after the checkpoint was written reads as its default
            if key not in may_differ and saved.get(key, defaults[key].default) != value:
                raise ConfigError(f"{key}={value!r} is not allowed on resume: the checkpoint in {self.path} "
                                  f"was trained with {key}={saved.get(key)!r}")
        return state

    def start(self, iteration: int) -> None:
        """Drop log rows past the checkpoint we continue from; open the logs."""
        truncate_logs(self.path, iteration)
        atomic_write_text(self.path / "config.json", json.dumps(self.cfg.to_dict(), indent=2))
        # what `device: auto` resolved to, and the software that trained (config.json keeps the request)
        atomic_write_text(self.path / "runtime.json", json.dumps(
            {"device": str(resolve_device(self.cfg.device)), "torch": torch.__version__,
             "threads": torch.get_num_threads(), "from_iteration": iteration}, indent=2))
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
        # the kept one first: a kill between the two writes resumes from the older last.pt and writes it again
        if self.cfg.keep_checkpoints:
            atomic_save(state, kept_checkpoint(self.path, state["iteration"]))
        atomic_save(state, self.last)
        self._settle_replaced(keep_new=True)  # --overwrite: the old run goes only now the new one has a checkpoint

    def last_good(self) -> str:
        if not self.last.is_file():
            return "none written yet"
        return f"{self.last} (iteration {read_checkpoint(self.last, mmap=True)['iteration']})"

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
                self._history = None
            if self.live is not None:
                self.live.end()
                self.live = None
            self._settle_replaced(keep_new=self.last.is_file())  # failed before a checkpoint: the old run back
        finally:
            self._release()


def _history_rows(path: Path) -> list[dict]:
    """Rows of a history.jsonl. A torn last line (a write cut short by a kill or a full disk) is
    dropped; a damaged line before it is a ConfigError naming the file and line."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ConfigError(f"history={str(path)!r} is not allowed: line {i + 1} is not JSON; "
                              f"delete the run folder {path.parent} to train it again") from None
    return rows


def truncate_logs(out_dir: Path, start: int) -> None:
    """Drop log rows from iterations >= start (written after the checkpoint we resume from), and a torn last row."""
    hist = out_dir / "history.jsonl"
    if hist.is_file():
        rows = [r for r in _history_rows(hist) if r["iteration"] < start]
        atomic_write_text(hist, "".join(json.dumps(r) + "\n" for r in rows))
    for tsv in (out_dir / "dvclive" / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        kept = [lines[0]] + [ln for ln in lines[1:] if _tsv_step(ln) < start]
        tsv.write_text("\n".join(kept) + "\n")
    metrics = out_dir / "dvclive" / "metrics.json"
    if metrics.is_file():
        try:
            data = json.loads(metrics.read_text())
        except json.JSONDecodeError:
            data = {}
        data["step"] = max(start - 1, 0)
        metrics.write_text(json.dumps(data))


def _tsv_step(line: str) -> float:
    try:
        return int(line.split("\t")[0])
    except ValueError:  # a torn row
        return float("inf")


def read_history(out_dir: str | Path) -> list[dict]:
    """Rows of history.jsonl (one per logged generator iteration)."""
    path = Path(out_dir) / "history.jsonl"
    return _history_rows(path) if path.is_file() else []
