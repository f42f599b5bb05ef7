"""The unit of work every executor runs: train (or resume) a run, or K runs in one process, then score
it, the scores cached in the run's folder (verified by their content hash)."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch

from .config import TrainConfig
from .device import cpu_threads, resolve_device
from .fidelity import ScoringSpec, score, score_key
from .files import file_sha256, read_verified_text, write_verified_text
from .rundir import checkpoint_iteration, finished, kept_checkpoints, last_checkpoint, load_generator


def _checkpoint_identity(path: Path, cfg: TrainConfig) -> dict:
    return {"iteration": checkpoint_iteration(path, cfg), "sha256": file_sha256(path)}


def score_run(cfg: TrainConfig, spec: ScoringSpec) -> list[dict]:
    """Scores of one finished run: its final generator, or (spec.checkpoints) every kept
    checkpoint, one dict per iteration. Cached in the run's folder (scores/<key>.json, verified
    by its content hash), keyed by the spec and by what each checkpoint holds.

    Always one CPU thread, as runs train: the numbers are the same whichever process computed
    them (a pool worker right after training, or the notebook's kernel).
    """
    files = kept_checkpoints(cfg.out_dir) if spec.checkpoints else [last_checkpoint(cfg.out_dir)]
    key = score_key(spec, [_checkpoint_identity(f, cfg) for f in files])
    cached = Path(cfg.out_dir) / "scores" / f"{key}.json"
    text = read_verified_text(cached, "scores")
    if text is not None:
        from .inception import shown_reason

        return [{**row, "isc_unavailable": shown_reason(row.get("isc_unavailable"))} if "isc_unavailable" in row
                else row for row in json.loads(text)["scores"]]
    device = str(resolve_device(cfg.device))
    rows = []
    with cpu_threads(1):
        for f in files:
            generator, saved = load_generator(f, device=device)
            result = score(generator, spec.reference, n_reference=spec.n_reference, n_samples=spec.n_samples,
                           image_size=spec.image_size or saved.image_size, seed=saved.seed, isc=spec.isc, device=device)
            rows.append({"iteration": checkpoint_iteration(f, saved), **result})
    write_verified_text(cached, json.dumps({"spec": spec.as_dict(), "scores": rows}, indent=1))
    return rows


def score_cached(cfg: TrainConfig, spec: ScoringSpec) -> bool:
    files = kept_checkpoints(cfg.out_dir) if spec.checkpoints else [last_checkpoint(cfg.out_dir)]
    if not all(f.is_file() for f in files):
        return False
    key = score_key(spec, [_checkpoint_identity(f, cfg) for f in files])
    return (Path(cfg.out_dir) / "scores" / f"{key}.json").is_file()


def _train_one(values: dict, scoring: ScoringSpec | None = None) -> str:
    """Train (or resume) one run from its config dict, then score it when asked (cached in its
    folder); the unit of work of every executor."""
    from .train import train

    cfg = TrainConfig(**values)
    if not finished(cfg):
        if torch.device(cfg.device if cfg.device != "auto" else "cpu").type == "cpu":
            with cpu_threads(1):  # one thread per CPU run: same numbers in every executor
                train(cfg)
        else:
            train(cfg)
    if scoring is not None:
        score_run(cfg, scoring)
    return cfg.out_dir


def _train_group(group: list[dict], scoring: ScoringSpec | None = None) -> list[str]:
    """K runs trained in one process (`train_many`: on a GPU, each on its own CUDA stream, so they
    overlap on the chip), then each scored; the unit of work of the pool's GPU path."""
    from .train import train_many

    cfgs = [TrainConfig(**values) for values in group]
    todo = [c for c in cfgs if not finished(c)]
    on_cpu = all(torch.device(c.device if c.device != "auto" else "cpu").type == "cpu" for c in todo)
    if todo:
        with cpu_threads(1) if on_cpu else contextlib.nullcontext():  # as _train_one: one thread per CPU run
            train_many(todo)
    if scoring is not None:
        for cfg in cfgs:
            score_run(cfg, scoring)
    return [c.out_dir for c in cfgs]


__all__ = ["score_cached", "score_run"]
