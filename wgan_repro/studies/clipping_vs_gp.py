"""WGAN-GP §5.3, Fig. 3 (notebook 03): weight clipping against the gradient penalty on CIFAR-10.

The paper trains four arms (gan_cifar.py's DCGAN): WGAN with weight clipping (RMSProp 5e-5), WGAN-GP
with RMSProp at clipping's learning rate ("to control for the optimizer"), WGAN-GP with Adam 1e-4, and
DCGAN. Its sentences (§5.3): "Even with the same optimizer, our method converges faster and to a better
score than weight clipping. Using Adam further improves performance." Fig. 3's caption: "WGAN-GP
significantly outperforms weight clipping and performs comparably to DCGAN."

Declared 2026-12-02, after the first looks at 600 iterations (2 arms) were committed: the same-optimizer
arm and the preconditions are new here, so these verdicts are a first look on the new declaration.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import signal
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from .. import claims as C, experiments as E, fidelity, plots, probes
from ..device import resolve_device, runs_per_gpu
from ..errors import ConfigError
from ..fidelity import ScoringSpec
from ..grid import grid_configs, run_grid
from ..looks import POCOCK
from ..metrics import sample_generator
from ..rundir import (kept_checkpoint, kept_checkpoints, last_checkpoint, load_generator, read_checkpoint,
                      read_history)
from . import Claim, required

CLIP, GP_RMSPROP, GP_ADAM, DCGAN = "WGAN (clip)", "WGAN-GP (RMSProp)", "WGAN-GP", "DCGAN"
SAME_OPTIMIZER = ("Even with the same optimizer, our method converges faster and to a better score than weight "
                  "clipping.")
ADAM = "Using Adam further improves performance."
CAPTION = "WGAN-GP significantly outperforms weight clipping and performs comparably to DCGAN."

CLAIMS = (
    Claim("03.same_optimizer_kid", "WGAN-GP §5.3, Fig. 3", SAME_OPTIMIZER,
          "With the same optimizer (RMSProp 5e-5), GP beats clipping (KID, CIFAR-10)", "kid", GP_RMSPROP, CLIP,
          higher_is_better=False, requires=("images", "same_optimizer")),
    Claim("03.adam_improves_kid", "WGAN-GP §5.3, Fig. 3", ADAM,
          "GP with Adam beats GP with RMSProp (KID, CIFAR-10)", "kid", GP_ADAM, GP_RMSPROP, higher_is_better=False,
          requires=("images",)),
    Claim("03.caption_kid", "WGAN-GP §5.3, Fig. 3 (caption)", CAPTION,
          "GP (Adam, the paper's settings) beats clipping (RMSProp, its settings) (KID, CIFAR-10)", "kid",
          GP_ADAM, CLIP,
          higher_is_better=False, requires=("images",)),
    Claim("03.caption_fid", "WGAN-GP §5.3, Fig. 3 (caption)", CAPTION,
          "GP (Adam) beats clipping (RMSProp): the same samples read by FID", "fid", GP_ADAM, CLIP,
          higher_is_better=False, family="secondary", requires=("images",)),
)
IMAGE_KID = 0.150  # KID (not x1e3) below which an arm's samples count as images, not noise or blobs
# (gan_cifar.py's DCGAN on one H100: KID 0.108 at 13,000 iterations, results/paper/03_clipping_vs_gp)


def preconditions(table: pd.DataFrame, variants: dict[str, dict]) -> dict[str, dict]:
    """Each named precondition, checked on the data: whether the comparison tests the paper's sentence here."""
    kid = {v: float(table[table.variant == v].kid.mean()) for v in table.variant.unique()}
    optimisers = {v: (variants[v]["optimizer"], variants[v]["lr_d"]) for v in (CLIP, GP_RMSPROP) if v in variants}
    return {
        "images": C.precondition(
            f"every arm's samples are images (mean KID ×1e3 < {IMAGE_KID * 1e3:.0f})",
            all(k < IMAGE_KID for k in kid.values()),
            "mean KID ×1e3 " + ", ".join(f"{v} {k * 1e3:.0f}" for v, k in kid.items())),
        "same_optimizer": C.precondition(
            "the two arms differ only in the Lipschitz method (same optimiser and learning rate)",
            len(set(optimisers.values())) == 1 and len(optimisers) == 2,
            ", ".join(f"{v}: {o} {lr:g}" for v, (o, lr) in optimisers.items())),
    }


def verdicts(table: pd.DataFrame, variants: dict[str, dict], iterations: int, n_samples: int,
             n_reference: int) -> list[dict]:
    """Every declared claim whose two arms ran, decided from the per-run score table (variant, seed, kid, fid)."""
    pre = preconditions(table, variants)
    rows = []
    for c in CLAIMS:
        if not {c.better, c.worse} <= set(table.variant):
            continue
        what = (f"KID ×1e3 after {iterations} generator iterations" if c.measure == "kid"
                else f"FID on {n_samples} samples vs {n_reference} training images")
        requires = required(c, pre)
        row = C.compared_claim(
            c.name, c.quote, what, (c.better, table[table.variant == c.better][c.measure].tolist()),
            (c.worse, table[table.variant == c.worse][c.measure].tolist()), higher_is_better=c.higher_is_better,
            item=c.item, scale=1e3 if c.measure == "kid" else 1.0, digits=2 if c.measure == "kid" else 1,
            family=c.family, requires=requires, id=c.id)
        rows.append(row)
    return rows


SETTLE = ("the paper's scale: DIM 128, 200k generator iterations (the paper profile runs DIM 64, 100k with all four "
          "arms; a GPU job), where every arm's samples are images")


def run(dataset: str, image_size: int, dim: int, iterations: int, all_arms: bool, control_arm: bool,
        critic_schedule: str, seeds: list[int], n_samples: int, n_reference: int, log_every: int, out_dir=None,
        runs_dir=None, results_root: str = "results", profile: str = "quick", gpu_records: str | None = None,
        stop_at: float | None = None, checkpoint_every: int | None = None):
    """Train and score every arm x seed (gan_cifar.py's DCGAN and settings: configs/cifar10_wgan_clip.yaml,
    cifar10_wgan_gp.yaml; the profile sets the scale); with all_arms also KID and FID of every kept checkpoint
    against iterations and wall-clock. The paper profile only: gpu_records re-reads a GPU lease's committed
    records instead of training (`gpu_run`); stop_at (seconds) is a lease: the four arms train at once to that
    deadline, keeping a checkpoint every `checkpoint_every` iterations, and the generators they reached are scored
    into records/ beside the page (`write_lease_records`), then read the same way. Returns (state, the per-run
    score table)."""
    for name, value in (("gpu_records", gpu_records), ("stop_at", stop_at)):
        if value and profile != "paper":
            raise ConfigError(f"{name}={value!r} is not allowed with profile={profile!r}: it is the paper "
                              "profile's (--profile paper)")
    if gpu_records and stop_at:
        raise ConfigError(f"stop_at={stop_at!r} is not allowed with gpu_records: a render either trains a lease or "
                          "re-reads one")
    if stop_at is not None and not (isinstance(stop_at, (int, float)) and stop_at > 0):
        raise ConfigError(f"stop_at={stop_at!r} is not allowed: seconds of training, more than 0")
    out_dir, runs_dir, save = E.setup(out_dir, runs_dir, "03_clipping_vs_gp")
    if stop_at:
        scale = dict(dataset=dataset, image_size=image_size, dim=dim, iterations=iterations, log_every=log_every,
                     sample_every=0)
        variants = E.fig3_arms(scale, critic_schedule, all_arms=True, checkpoint_every=checkpoint_every)
        train_to_deadline(variants, seeds, runs_dir, stop_at)
        command = (f"wgan-repro run-notebook 03_clipping_vs_gp --profile paper -p stop_at {stop_at:g} -p seeds "
                   f"'{list(seeds)}' -p dim {dim} -p checkpoint_every {checkpoint_every} -p n_samples {n_samples} "
                   f"-p n_reference {n_reference}")
        gpu_records = write_lease_records(variants, seeds, runs_dir, out_dir / "records", dataset, image_size,
                                          n_samples, n_reference, command=command)
    if gpu_records:
        s = gpu_run(gpu_records, out_dir, save, profile)
        return s, s.table
    scale = dict(dataset=dataset, image_size=image_size, dim=dim, iterations=iterations, log_every=log_every,
                 sample_every=max(1, iterations // 4), checkpoint_every=0)
    # clip, GP; control: GP (RMSProp); all_arms: + DCGAN, checkpoints
    variants = E.fig3_arms(scale, critic_schedule, all_arms, control_arm)
    scoring = ScoringSpec(f"{dataset}-train", image_size, n_samples, n_reference, checkpoints=all_arms)
    trained, table = E.compare(variants, seeds, runs_dir, scoring)  # each run is scored where it trained
    if all_arms:  # KID and FID of every kept checkpoint, with the run's clock
        ck = pd.concat([E.score_checkpoints(r, scoring, "wasserstein_estimate").assign(variant=name, seed=seed)
                        for (name, seed), r in trained.items()], ignore_index=True)
        ck.to_csv(out_dir / "checkpoints.csv", index=False)
        fig, axes = plt.subplots(1, 2, figsize=(13, 4))
        for ax, x, label in ((axes[0], "iteration", "generator iterations"),
                             (axes[1], "wall_time", "wall-clock seconds (one line per seed)")):
            per_seed = dict(units="seed", estimator=None, lw=1) if x == "wall_time" else dict(errorbar="sd")
            sns.lineplot(data=ck.assign(kid1e3=ck.kid * 1e3), x=x, y="kid1e3", hue="variant", marker="o", ax=ax,
                         **per_seed)
            ax.set_xlabel(label)
            ax.set_ylabel("KID ×1e3 (lower is better)")
        fig.suptitle(f"WGAN-GP Fig. 3's four arms: KID against generator iterations and wall-clock ({len(seeds)} "
                     "seeds)", y=1.02)
        save(fig, "kid_vs_iterations_and_time.png")
    s = SimpleNamespace(dim=dim, iterations=iterations, seeds=seeds, n_samples=n_samples, n_reference=n_reference,
                        profile=profile, out_dir=out_dir, save=save, variants=variants, trained=trained, table=table)
    return s, table


def figures(s: SimpleNamespace) -> None:
    """Samples at the end and over training; W estimates, KID per arm and the critics' weights (Fig. 1b)."""
    if hasattr(s, "records"):
        return gpu_figures(s)
    trained, table, variants, seeds, iterations = s.trained, s.table, s.variants, s.seeds, s.iterations
    fig, axes = plt.subplots(1, len(variants), figsize=(5 * len(variants), 5))
    for ax, name in zip(axes, variants):
        ax.imshow(plots.image_grid_array(sample_generator(trained[(name, seeds[0])].generator, 64, seed=0)))
        ax.set_title(f"{name}, {iterations} generator iterations")
        ax.axis("off")
    s.save(fig, "samples.png")
    # the same fixed noise over training (early to end), two seeds per variant
    s.save(plots.samples_over_time({name: [trained[(name, k)] for k in seeds[:2]] for name in variants}),
           "samples_over_time.png")
    curves = E.histories_frame(trained)
    s.curves = curves
    curves[["variant", "seed", "iteration", "wasserstein_estimate", "critic_grad_norm_interp", "wall_time"]].to_csv(
        s.out_dir / "curves.csv", index=False)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    sns.lineplot(data=curves, x="iteration", y="wasserstein_estimate", hue="variant", errorbar="sd", ax=axes[0])
    axes[0].set_title("critic's W estimate (scales differ: clipping bounds f)")
    sns.barplot(data=table.assign(kid1e3=table.kid * 1e3), x="variant", y="kid1e3", errorbar="sd", ax=axes[1])
    axes[1].set_ylabel("KID ×1e3 (lower is better)")
    axes[1].set_title(f"KID at {iterations} iterations (mean ± sd over seeds)")
    for name in variants:  # |w| on a log axis: clipping piles the weights at c = 0.01 (log10 = -2)
        w = np.abs(probes.critic_layer_weights(trained[(name, seeds[0])].critic))
        axes[2].hist(np.log10(w[w > 0]), bins=80, alpha=.6, density=True, label=name)
    axes[2].axvline(-2, color="k", ls=":", lw=1)
    axes[2].legend()
    axes[2].set_xlabel("log10 |critic weight|")
    axes[2].set_title("critic weights (WGAN-GP Fig. 1b)")
    s.save(fig, "curves_kid_weights.png")
    share = curves[curves.variant == CLIP].groupby("seed").tail(1).critic_weight_at_clip.mean()
    display(Markdown(
        "**What the figures show.** Left: the critics' W estimates are on different scales (clipping bounds the "
        f"critic), so only their shapes compare. Middle: KID after {iterations} generator iterations, mean ± sd over "
        f"{len(seeds)} seeds (GP {table[table.variant == GP_ADAM].kid.mean() * 1e3:.1f}, clip "
        f"{table[table.variant == CLIP].kid.mean() * 1e3:.1f}, ×1e3). Right: {share:.0%} of the clipped critic's "
        "weights sit at ±c at the end of training (the pile-up of WGAN-GP Fig. 1(b)); the penalised critic's weights "
        "spread over orders of magnitude."))


def report(s: SimpleNamespace) -> None:
    """The declared claims decided, metrics.json / details.json, the verdict table with any precondition not met."""
    if hasattr(s, "records"):
        return gpu_report(s)
    table, variants, iterations = s.table, s.variants, s.iterations
    get = lambda v, c: table[table.variant == v][c].tolist()  # noqa: E731
    claims = C.settle_with(verdicts(table, variants, iterations, s.n_samples, s.n_reference), SETTLE)
    share = weight_share_at_clip(s.curves)
    metrics = {"profile": s.profile, "seeds": s.seeds, "iterations": iterations, "dim": s.dim,
               "n_samples": s.n_samples, "n_reference": s.n_reference,
               **C.summarize(table, "variant", ["kid", "fid", "wall_time_s"]),
               "clip_weight_share_at_c": {"mean": share[0], "std": share[1]},
               "isc_unavailable": table.isc_unavailable.iloc[0], "claims": claims}
    headline = {**C.mean_std(get(GP_ADAM, "kid"), "kid_gp", 1e3, 1), **C.mean_std(get(CLIP, "kid"), "kid_clip", 1e3, 1),
                **C.mean_std(get(GP_ADAM, "fid"), "fid_gp", digits=1),
                **C.mean_std(get(CLIP, "fid"), "fid_clip", digits=1)}
    if GP_RMSPROP in variants:
        headline.update(C.mean_std(get(GP_RMSPROP, "kid"), "kid_gp_rmsprop", 1e3, 1))
    C.write_metrics(s.out_dir, metrics, headline)
    display(Markdown(C.scale_note(s.profile, f"{iterations} generator iterations, DIM {s.dim}, {len(s.seeds)} seeds, "
                                  f"{len(variants)} arms, KID/FID on {s.n_samples} samples vs {s.n_reference} training "
                                  "images", "DIM 128, 200k generator iterations, Inception score of 10 × 1,024 fixed "
                                  "samples (gan_cifar.py), four arms")
                     + "\n\n" + C.claims_markdown(claims) + f"\n\nVerdict rule: {C.VERDICT_RULE}. IS: "
                     f"{table.isc_unavailable.iloc[0]}" + C.unmet_preconditions_markdown(claims)))


def weight_share_at_clip(curves: pd.DataFrame) -> tuple[float, float]:
    """Mean and sd over seeds of the share of the clipped critic's weights at ±c at the end (WGAN-GP Fig. 1b)."""
    last = curves[curves.variant == CLIP].groupby("seed").tail(1).critic_weight_at_clip
    return float(np.mean(last)), C.sd(last)


# ---------------------------------------------------------------------- the paper profile's GPU records, re-read
# A GPU lease trains the four arms at the paper profile's settings until its deadline and scores the generators
# they reached (`stop_at`, below): the records (one score row per scored generator, every logged row, each lease's
# runs) are committed in results/paper/records/03_clipping_vs_gp/, and notebook 03 at the paper profile with
# `gpu_records` set re-reads them here instead of training (no weights needed; the samples figures, drawn from the
# generators on the lease, are records too). The four leases of 2026-11-26 ran benchmarks/gpu_paper_03.py and
# score_paper_03.py (git history), which this section replaced with the same rules and record format. Rules as
# stated before each lease's data (the equal wall-clock claim's before lease 3's); no look plan: shown beside the
# quick profile, not counted.
GPU_ARMS = [CLIP, GP_RMSPROP, GP_ADAM, DCGAN]
GPU_RECORDS = ("checkpoints.csv", "histories.csv", "runs.json")
GPU_SAMPLE_FIGURES = ("samples.png", "samples_equal_wall_clock.png")


def read_gpu_records(records) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(score rows, histories, runs.json with each arm's optimiser) of a records folder, or of several leases'
    folders joined in order (the committed one and a new lease's records/): their seeds must not repeat (a lease
    trains new seeds) and their scores share one protocol (sample counts). Nothing is written."""
    folders = [Path(records)] if isinstance(records, (str, Path)) else [Path(r) for r in records]
    if not folders:
        raise ConfigError("gpu_records=[] is not allowed: one records folder or a list of them")
    parts = [_read_records(f) for f in folders]
    if len(parts) == 1:
        return parts[0]
    metas = [m for _, _, m in parts]
    seeds = [seed for m in metas for seed in m["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"gpu_records: seeds {seeds} repeat across the leases' records; each lease trains its own")
    protocols = {str(f): sorted(ck[["n_samples", "n_reference"]].drop_duplicates().itertuples(index=False, name=None))
                 for f, (ck, _, _) in zip(folders, parts)}
    if len({tuple(v) for v in protocols.values()}) > 1:
        raise ConfigError(f"gpu_records: the leases were scored with other sample counts ({protocols}); scores of one "
                          "table share one protocol")
    arms = {}
    for m in metas:
        for arm, opt in m["arms"].items():
            if arms.setdefault(arm, opt) != opt:
                raise ConfigError(f"gpu_records: {arm} trained with {arms[arm]} on one lease and {opt} on another")
    meta = {"gpu": " + ".join(sorted({m["gpu"] for m in metas})),
            "torch": " + ".join(sorted({m["torch"] for m in metas})),
            "per_gpu": metas[0]["per_gpu"], "seeds": seeds, "runs": [r for m in metas for r in m["runs"]],
            "leases": [x for m in metas for x in m["leases"]], "arms": arms,
            "command": " ; ".join(dict.fromkeys(m["command"] for m in metas if m.get("command")))}
    return (pd.concat([ck for ck, _, _ in parts], ignore_index=True),
            pd.concat([h for _, h, _ in parts], ignore_index=True), meta)


def _read_records(records) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(score rows, histories, runs.json) from one records folder, checked: every file present, every arm scored."""
    records = Path(records)
    missing = [f for f in GPU_RECORDS if not (records / f).is_file()]
    if missing:
        raise ConfigError(f"gpu_records={str(records)!r} is not allowed: it lacks {', '.join(missing)} (a folder "
                          "a lease wrote (stop_at), e.g. results/paper/records/03_clipping_vs_gp)")
    ck, hist = pd.read_csv(records / "checkpoints.csv"), pd.read_csv(records / "histories.csv")
    meta = json.loads((records / "runs.json").read_text())
    # each arm's optimiser, from every lease's run records (the configs that trained): one per arm
    arms: dict[str, set] = {}
    for path in sorted(records.glob("gpu_runs*.json")):
        for r in json.loads(path.read_text())["runs"]:
            arms.setdefault(r["variant"], set()).add((r["config"]["optimizer"], r["config"]["lr_d"]))
    if any(len(v) != 1 for v in arms.values()):
        raise ConfigError(f"gpu_records={str(records)!r} is not allowed: an arm trained with more than one "
                          f"optimiser across leases ({ {k: sorted(v) for k, v in arms.items()} })")
    meta["arms"] = {k: dict(zip(("optimizer", "lr_d"), next(iter(v)))) for k, v in arms.items()}
    if set(ck.variant) != set(GPU_ARMS):
        raise ConfigError(f"gpu_records={str(records)!r} is not allowed: its scores cover {sorted(set(ck.variant))}, "
                          f"not Fig. 3's four arms {GPU_ARMS}")
    return ck, hist, meta


def gpu_claims(ck: pd.DataFrame, at: int, configured: int, n_samples: int, n_reference: int,
               leases: list[dict] | None = None, arms: dict[str, dict] | None = None) -> list[dict]:
    """The four Fig. 3 claims on the scores in `ck` at iteration `at`, and the equal wall-clock claim
    where a lease chose DCGAN's checkpoints for it (rules as stated before the data). Each carries the id of the
    declared claim it tests at the paper scale (CLAIMS; the scorecard shows the two side by side), or one of its
    own where only the paper profile has the arms (DCGAN). A declared claim keeps its preconditions at this scale
    too (`preconditions` on the scores at `at`, `arms`: each arm's optimiser); the DCGAN claims require images."""
    get = lambda v: ck[(ck.variant == v) & (ck.iteration == at)].sort_values("seed")  # noqa: E731
    pre = preconditions(ck[ck.iteration == at], arms or {})
    declared = {c.id: required(c, pre) for c in CLAIMS}
    item = (f"WGAN-GP Fig. 3 (paper-profile runs on a GPU, stopped at {at:,} of "
            f"{configured:,} iterations)")
    what = (f"KID ×1e3 after {at:,} generator iterations ({n_samples} samples vs {n_reference} "
            "training images)")
    claims = [
        C.compared_claim("GP beats clipping at equal generator iterations (KID, CIFAR-10, GPU)",
                         "GP converges faster and to better scores (Fig. 3)", what, ("GP", get(GP_ADAM).kid.tolist()),
                         ("clip", get(CLIP).kid.tolist()), higher_is_better=False, item=item, scale=1e3,
                         id="03.caption_kid", requires=declared["03.caption_kid"]),
        C.compared_claim("GP with RMSProp at clipping's learning rate beats clipping (KID, CIFAR-10, GPU)",
                         "GP beats clipping with the optimizer held fixed (Fig. 3: \"to control for the optimizer\")",
                         what, ("GP (RMSProp)", get(GP_RMSPROP).kid.tolist()),
                         ("clip", get(CLIP).kid.tolist()), higher_is_better=False, item=item, scale=1e3,
                         id="03.same_optimizer_kid", requires=declared["03.same_optimizer_kid"]),
        C.compared_claim("GP with Adam beats GP with RMSProp (KID, CIFAR-10, GPU)",
                         "\"Using Adam further improves performance\" (§5.3)", what,
                         ("GP (Adam)", get(GP_ADAM).kid.tolist()),
                         ("GP (RMSProp)", get(GP_RMSPROP).kid.tolist()), higher_is_better=False, item=item,
                         scale=1e3, id="03.adam_improves_kid", requires=declared["03.adam_improves_kid"]),
        C.compared_claim("DCGAN is ahead of GP in wall-clock (KID, CIFAR-10, GPU)",
                         "GP \"converges more slowly (in wall-clock time) than DCGAN\" (§5.3)",
                         f"KID ×1e3 at {at:,} iterations, reached by DCGAN after {get(DCGAN).wall_time.mean():.0f} s "
                         f"and by GP after {get(GP_ADAM).wall_time.mean():.0f} s (means over seeds)",
                         ("DCGAN", get(DCGAN).kid.tolist()), ("GP", get(GP_ADAM).kid.tolist()),
                         higher_is_better=False, item=item, scale=1e3, id="03.gpu_dcgan_ahead_in_wall_clock",
                         requires=pre["images"]),
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
    return C.settle_with(claims, "the runs continued to the profile's 100k iterations (about 2.2 GPU-hours per run "
                                 "alone at the measured 12.6 iterations/s) and scored on 50k samples")


def wall_clock_picks(leases: list[dict]) -> list[tuple[int, int, dict]]:
    """(seed, DCGAN checkpoint, the lease's record) for every DCGAN run a lease scored at GP's wall-clock."""
    return [(int(seed), it, x["dcgan_at_gp_wall_clock"]) for x in leases if "dcgan_at_gp_wall_clock" in x
            for seed, it in x["dcgan_at_gp_wall_clock"]["checkpoints"].items() if it is not None]


def equal_wall_clock_claims(ck: pd.DataFrame, leases: list[dict], item: str) -> list[dict]:
    """DCGAN against GP at equal wall-clock, on the seeds of the leases that chose DCGAN's checkpoint at
    GP's wall-clock (`dcgan_at_gp_wall_clock`: the latest one within GP's mean time to the newest
    common checkpoint). Rule, stated before lease 3's data: VERDICT_RULE (Welch, two-sided, p < 0.05)."""
    picks = wall_clock_picks(leases)
    if not picks:
        return []
    at = picks[0][2]["gp_iteration"]
    seeds = sorted({seed for seed, _, _ in picks})
    picked = pd.MultiIndex.from_tuples([(s, i) for s, i, _ in picks])
    dcgan = ck[(ck.variant == DCGAN) & pd.MultiIndex.from_frame(ck[["seed", "iteration"]]).isin(picked)]
    dcgan = dcgan.sort_values("seed")
    gp = ck[(ck.variant == GP_ADAM) & (ck.iteration == at) & ck.seed.isin(seeds)].sort_values("seed")
    lease_means = dict.fromkeys(f"{x['gp_mean_wall_clock_s']:.0f}" for _, _, x in picks)  # one per lease, in order
    what = (f"KID ×1e3 at equal wall-clock: GP after {at:,} iterations ({gp.wall_time.mean():.0f} s on average), "
            f"DCGAN at its latest checkpoint within GP's mean time on its lease "
            f"({', '.join(lease_means)} s): iterations "
            f"{', '.join(f'{i:,}' for i in dcgan.iteration)}, reached after {dcgan.wall_time.mean():.0f} s on average; "
            f"seeds {seeds}")
    images = preconditions(pd.concat([dcgan, gp]), {})["images"]  # the two arms as compared
    return [C.compared_claim("DCGAN beats GP at equal wall-clock (KID, CIFAR-10, GPU)",
                             "GP \"converges more slowly (in wall-clock time) than DCGAN\" (§5.3, Fig. 3 right)", what,
                             ("DCGAN", dcgan.kid.tolist()), ("GP", gp.kid.tolist()), higher_is_better=False,
                             item=item, scale=1e3, id="03.gpu_dcgan_equal_wall_clock", requires=images)]


def gpu_run(records, out_dir, save, profile: str) -> SimpleNamespace:
    """The GPU records read and decided: the state `gpu_figures` and `gpu_report` use, and the score table at the
    newest checkpoint every run reached."""
    ck, hist, meta = read_gpu_records(records)
    # the iterations scored for every run (DCGAN's checkpoints at GP's wall-clock are extra)
    common = sorted(set.intersection(*(set(g.iteration) for _, g in ck.groupby(["variant", "seed"]))))
    if not common:
        raise ConfigError(f"gpu_records={str(records)!r} is not allowed: its runs share no scored iteration (leases "
                          "with other checkpoint_every were joined?)")
    at, configured = max(common), meta["runs"][0]["iterations_configured"]
    n_samples, n_reference = int(ck.n_samples.max()), int(ck.n_reference.max())
    claims = gpu_claims(ck, at, configured, n_samples, n_reference, meta["leases"], meta["arms"])
    # the verdicts as published after each earlier look (lease), before later leases added seeds
    earlier = []
    for k in range(1, len(meta["leases"])):
        seeds = [seed for x in meta["leases"][:k] for seed in x["seeds"]]
        earlier.append({"leases": k, "seeds": seeds, "claims": gpu_claims(
            ck[ck.seed.isin(seeds)], at, configured, n_samples, n_reference, meta["leases"][:k], meta["arms"])})
    first = Path(records if isinstance(records, (str, Path)) else records[0])  # its samples figures are shown
    return SimpleNamespace(records=first, out_dir=out_dir, save=save, profile=profile, ck=ck, hist=hist, meta=meta,
                           common=common, at=at, configured=configured, n_samples=n_samples, n_reference=n_reference,
                           claims=claims, earlier=earlier,
                           table=ck[ck.iteration == at].sort_values(["variant", "seed"]).reset_index(drop=True))


def gpu_figures(s: SimpleNamespace) -> None:
    """KID against generator iterations and the runs' wall-clock; the lease's samples (records: no weights here)."""
    ck, meta = s.ck, s.meta
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    d = ck.assign(kid1e3=ck.kid * 1e3)
    sns.lineplot(data=d[d.iteration.isin(s.common)], x="iteration", y="kid1e3", hue="variant", hue_order=GPU_ARMS,
                 marker="o", errorbar="sd", ax=axes[0])
    sns.lineplot(data=d, x="wall_time", y="kid1e3", hue="variant", hue_order=GPU_ARMS, units="seed", estimator=None,
                 marker="o", lw=1, ax=axes[1], legend=False)
    axes[0].set_xlabel("generator iterations")
    axes[1].set_xlabel(f"wall-clock seconds ({meta['per_gpu']} runs sharing one GPU)")
    for ax in axes:
        ax.set_ylabel("KID ×1e3 (lower is better)")
    picked = [seed for x in meta["leases"] if "dcgan_at_gp_wall_clock" in x for seed in x["seeds"]]
    fig.suptitle(f"WGAN-GP Fig. 3's four arms on a GPU, first {s.at:,} of {s.configured // 1000}k iterations "
                 f"(left: mean ± sd over {len(meta['seeds'])} seeds; right: one line per seed"
                 + (f"; DCGAN seeds {picked}: last point at GP's wall-clock" if picked else "") + ")", y=1.02)
    s.save(fig, "kid_vs_iterations_and_time.png")
    for name in GPU_SAMPLE_FIGURES:  # drawn on the lease from its generators, which stay there
        if (s.records / name).is_file():
            shutil.copyfile(s.records / name, s.out_dir / "figures" / name)
            display(Markdown(f"![{name}](figures/{name})"))


def gpu_report(s: SimpleNamespace) -> None:
    """details.json, metrics.json and claims.md of the GPU records (claims shown, not counted), the verdicts."""
    meta, claims, earlier, ck, at = s.meta, s.claims, s.earlier, s.ck, s.at
    get = lambda v: ck[(ck.variant == v) & (ck.iteration == at)].sort_values("seed")  # noqa: E731
    runs = [{k: r[k] for k in ("variant", "seed", "iterations_reached", "iterations_configured")} for r in meta["runs"]]
    looks = len(meta["leases"])
    details = {"gpu": meta["gpu"], "torch_on_gpu": meta["torch"], "runs_sharing_the_gpu": meta["per_gpu"],
               "seeds": meta["seeds"], "runs": runs, "scored_at_iterations": s.common,
               "scored_on": {k: int(v) for k, v in ck.scored_on.value_counts().items()},
               "n_samples": s.n_samples, "n_reference": s.n_reference, "sample_seed": 0,
               **C.summarize(ck[ck.iteration == at], "variant", ["kid", "fid", "wall_time"]), "claims": claims,
               "leases": meta["leases"], "pocock_boundary": POCOCK[looks], "claims_earlier_looks": earlier,
               "command": meta.get("command", "")}
    headline = {f"kid_{key}": get(arm).kid.mean() * 1e3 for key, arm in
                (("gp", GP_ADAM), ("clip", CLIP), ("gp_rmsprop", GP_RMSPROP), ("dcgan", DCGAN))}
    C.write_metrics(s.out_dir, details, {"iteration": at, **headline}, declared=False)  # no look plan: not counted
    reached = ", ".join(f"{r['variant']} seed {r['seed']}: {r['iterations_reached']:,}" for r in runs)
    where = " and ".join(f"{n} on the {'CPU' if k == 'cpu' else 'GPU'}" for k, n in details["scored_on"].items())
    leases = "; ".join(f"lease {i + 1}: seeds {x['seeds']}" for i, x in enumerate(meta["leases"]))
    # each claim's number of looks: the leases whose data it was tested on, as verdicts were published
    n_looks = {c["claim"]: 1 + sum(c["claim"] in {e["claim"] for e in x["claims"]} for x in earlier) for c in claims}
    pocock_ok = all(c["stats"]["p"] < POCOCK[n_looks[c["claim"]]] for c in claims
                    if c["verdict"] == C.REPRODUCED)
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
               f"deadline, short of its {s.configured:,} configured iterations. Iterations "
               f"reached: {reached}. Scored at {', '.join(f'{i:,}' for i in s.common)} iterations (the checkpoints "
               f"every run reached) and DCGAN also at GP's wall-clock where a lease chose it ({where}): KID and FID "
               f"of {s.n_samples} samples against {s.n_reference} CIFAR-10 training images. These are "
               f"early-training comparisons, not the paper's endpoint.\n\n"
               + C.claims_markdown(claims, with_rule=True) + C.unmet_preconditions_markdown(claims) + "\n" + looks_md)
    (s.out_dir / "claims.md").write_text(summary)
    display(Markdown(summary.split("\n", 2)[2]))  # its title is the notebook's


# ---------------------------------------------------------------------- a GPU lease: train to a deadline, record
# Notebook 03 at the paper profile with `stop_at` (seconds): the four arms train at once to the deadline (each run
# finishes its iteration, checkpoints and stops; a later call with the same runs folder resumes them), then the
# generators every run reached are scored where they are (the newest common kept checkpoint and the one nearest
# half of it, and DCGAN's latest within GP's mean wall-clock to the newest), and the lease's records are written
# (records/ beside the page) and read back by `gpu_run`. A later lease trains new seeds; its records are committed
# beside the earlier ones and `gpu_records` lists them all (`read_gpu_records` joins them in memory).
class Deadline(Exception):
    """The lease's training budget is spent."""


def train_to_deadline(variants: dict[str, dict], seeds: list[int], runs_dir, seconds: float) -> None:
    """Every (arm, seed) trains at once until `seconds` have passed (then each checkpoints and stops)."""
    def stop(signum, frame):
        raise Deadline()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        run_grid({}, variants, seeds, runs_dir, executor="pool", workers=len(variants) * len(seeds))
    except Deadline:
        display(Markdown(f"Deadline after {seconds:g} s: every run checkpointed at the end of its iteration."))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def wall_clock_at(hist: pd.DataFrame, variant: str, seed: int, iteration: int) -> float:
    """A run's wall-clock when it reached `iteration` (its last logged row before it)."""
    h = hist[(hist.variant == variant) & (hist.seed == seed) & (hist.iteration < iteration)]
    return float(h.wall_time.iloc[-1])


def dcgan_at_gp_wall_clock(runs: list[dict], hist: pd.DataFrame, at: int) -> dict:
    """GP's mean wall-clock to `at` iterations over its seeds, and for each DCGAN seed its latest kept
    checkpoint reached no later (None when it kept none that early)."""
    gp = [wall_clock_at(hist, GP_ADAM, r["seed"], at) for r in runs if r["variant"] == GP_ADAM]
    limit = sum(gp) / len(gp)
    chosen = {}
    for r in runs:
        if r["variant"] == DCGAN:
            early = [it for it in r["kept"] if wall_clock_at(hist, DCGAN, r["seed"], it) <= limit]
            chosen[str(r["seed"])] = max(early) if early else None
    return {"gp_iteration": at, "gp_mean_wall_clock_s": limit, "checkpoints": chosen}


def write_lease_records(variants: dict[str, dict], seeds: list[int], runs_dir, records, dataset: str,
                        image_size: int, n_samples: int, n_reference: int, name: str = "lease1",
                        command: str = "") -> Path:
    """The lease's records from its run folders: runs.json, gpu_runs.json, histories.csv, checkpoints.csv (the
    generators scored here, on this machine's device) and the samples figures. Returns the records folder."""
    records = Path(records)
    records.mkdir(parents=True, exist_ok=True)
    runs, hists = [], []
    for (arm, seed), cfg in grid_configs({}, variants, seeds, runs_dir).items():
        if not last_checkpoint(cfg.out_dir).is_file():
            raise ConfigError(f"stop_at: {arm} seed {seed} never started before the deadline; give the lease more "
                              "seconds or fewer seeds")
        h = pd.DataFrame(read_history(cfg.out_dir)).assign(variant=arm, seed=seed)
        hists.append(h)
        runs.append({"variant": arm, "seed": seed, "out_dir": cfg.out_dir, "config": cfg.to_dict(),
                     "iterations_reached": int(read_checkpoint(last_checkpoint(cfg.out_dir))["iteration"]),
                     "iterations_configured": cfg.iterations, "wall_time_s": float(h.wall_time.iloc[-1]),
                     "kept": [int(p.stem.split("_")[1]) for p in kept_checkpoints(cfg.out_dir)]})
    hist = pd.concat(hists, ignore_index=True)
    common = sorted(set.intersection(*(set(r["kept"]) for r in runs)))
    if not common:
        raise ConfigError("stop_at: the runs kept no checkpoint in common before the deadline (checkpoint_every "
                          f"is {runs[0]['config']['checkpoint_every']}); give the lease more seconds")
    send = [common[-1], min(common[:-1], key=lambda c: abs(c - common[-1] / 2))] if len(common) > 1 else common
    picks = dcgan_at_gp_wall_clock(runs, hist, common[-1])
    items = [(it, r) for it in send for r in runs]
    items += [(picks["checkpoints"][str(r["seed"])], r) for r in runs
              if r["variant"] == DCGAN and picks["checkpoints"][str(r["seed"])] not in (None, *send)]
    device = str(resolve_device("auto"))
    # full fp32 convolutions and matmuls while scoring, as on the CPU (TF32 keeps 10 mantissa bits of each input)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    rows, gens = [], {}
    for it, r in items:
        path = kept_checkpoint(r["out_dir"], it)
        g, _ = load_generator(path)
        sc = fidelity.score(g, f"{dataset}-train", n_reference=n_reference, n_samples=n_samples,
                            image_size=image_size, isc=False, seed=0, device=device)
        rows.append({"variant": r["variant"], "seed": r["seed"], "iteration": it,
                     "wall_time": wall_clock_at(hist, r["variant"], r["seed"], it), "kid": sc["kid_mean"],
                     "kid_std": sc["kid_std"], "fid": sc["fid"], "n_samples": sc["n_samples"],
                     "n_reference": sc["n_reference"], "file": f"{name}/{Path(r['out_dir']).name}/{path.name}",
                     "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "scored_on": device.split(":")[0]})
        gens[(r["variant"], r["seed"], it)] = g
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    pd.DataFrame(rows).to_csv(records / "checkpoints.csv", index=False)
    hist[["variant", "seed", "iteration", "wasserstein_estimate", "loss_critic", "loss_generator", "wall_time"]].to_csv(
        records / "histories.csv", index=False)
    meta = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none", "torch": torch.__version__,
            "per_gpu": runs_per_gpu() if torch.cuda.is_available() else 1, "seeds": list(seeds)}
    (records / "gpu_runs.json").write_text(json.dumps({**meta, "common_checkpoints": common, "runs": runs,
                                                       "sent_checkpoints": send}, indent=1) + "\n")
    (records / "runs.json").write_text(json.dumps({**meta, "runs": [
        {k: r[k] for k in ("variant", "seed", "iterations_reached", "iterations_configured")} for r in runs],
        "leases": [{"seeds": list(seeds), "segments": [name], "dcgan_at_gp_wall_clock": picks}],
        "command": command}, indent=1) + "\n")
    lease_samples(records, gens, seeds[0], common[-1], picks)
    return records


def lease_samples(records: Path, gens: dict, seed: int, at: int, picks: dict) -> None:
    """samples.png: each arm's `seed` generator at `at`, the same fixed noise; samples_equal_wall_clock.png: GP at
    `at` beside DCGAN at GP's wall-clock."""
    fig, axes = plt.subplots(1, len(GPU_ARMS), figsize=(5 * len(GPU_ARMS), 5))
    for ax, arm in zip(axes, GPU_ARMS):
        ax.imshow(plots.image_grid_array(sample_generator(gens[(arm, seed, at)], 64, seed=0)))
        ax.set_title(f"{arm}, {at:,} iterations")
        ax.axis("off")
    fig.savefig(records / "samples.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    it = picks["checkpoints"].get(str(seed))
    if it is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, (arm, i) in zip(axes, ((GP_ADAM, at), (DCGAN, it))):
        ax.imshow(plots.image_grid_array(sample_generator(gens[(arm, seed, i)], 64, seed=0)))
        ax.set_title(f"{arm} seed {seed}, {i:,} iterations")
        ax.axis("off")
    fig.suptitle("Equal wall-clock: GP at its newest common checkpoint, DCGAN at its latest checkpoint "
                 "within GP's mean time", y=0.98)
    fig.savefig(records / "samples_equal_wall_clock.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


__all__ = ["CLAIMS", "Deadline", "GPU_ARMS", "IMAGE_KID", "SETTLE", "dcgan_at_gp_wall_clock",
           "equal_wall_clock_claims", "figures", "gpu_claims", "gpu_figures", "gpu_report", "gpu_run",
           "preconditions", "read_gpu_records", "report", "run", "train_to_deadline", "verdicts",
           "wall_clock_at", "wall_clock_picks", "weight_share_at_clip", "write_lease_records"]
