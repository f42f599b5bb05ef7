"""The studies' building blocks: `setup` (folders, figure saving, style), `compare` (train a grid of
variants x seeds, score it, return the runs and a tidy table), and the tables a study draws.

Each notebook calls its study (`wgan_repro/studies/<item>.py`): parameters, `run`, one call per figure,
`report`; the studies build on this module and on `claims` (the decision layer), tested in tests/.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .config import LENGTH, fields_with, keyed_values
from .presets import config_from_dict
from .presets import load_preset
from .fidelity import ScoringSpec
from .files import compact_png
from .grid import run_grid, score_run
from .rundir import TrainResult, read_history


def setup(out_dir: str | Path | None, runs_dir: str | Path | None, name: str | None = None):
    """A notebook's folders and figure saver: (out_dir, runs_dir, save), save(fig, file_name).

    out_dir None (a plain `papermill` run, outside `wgan-repro run-notebook`): outputs/<name>
    in the working folder, never the committed results/."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    out_dir = Path(out_dir) if out_dir else Path("outputs") / (name or "notebook")
    runs_dir = Path(runs_dir) if runs_dir else Path("runs") / (name or "notebook")
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)

    def save(fig, file_name: str) -> None:
        """Write the figure to figures/ and show that file (run-notebook embeds it: report.embed_figures)."""
        from IPython.display import Markdown, display

        fig.savefig(fig_dir / file_name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        compact_png(fig_dir / file_name)  # the same pixels, about half the bytes (each figure is in git twice)
        display(Markdown(f"![{file_name}](figures/{file_name})"))

    return out_dir, runs_dir, save


def fig3_arms(scale: dict, critic_schedule: str = "constant", all_arms: bool = True, control: bool = False,
              checkpoint_every: int | None = None) -> dict[str, dict]:
    """WGAN-GP Fig. 3's arms on gan_cifar.py's DCGAN (configs/cifar10_wgan_clip.yaml, cifar10_wgan_gp.yaml):
    weight clipping (RMSProp 5e-5) and the gradient penalty (Adam 1e-4, beta 0.5/0.9); with `control` or
    all_arms also the penalty with RMSProp at clipping's learning rate ("to control for the optimizer"); with
    all_arms DCGAN too (the non-saturating GAN loss, Adam 2e-4, one D step per G step), each keeping a
    checkpoint every `checkpoint_every` iterations (default: every quarter of training). `scale` sets dataset,
    size, DIM, iterations and logging (the profile's)."""
    arms = {"WGAN (clip)": load_preset("cifar10_wgan_clip", **scale, critic_schedule=critic_schedule),
            "WGAN-GP": load_preset("cifar10_wgan_gp", **scale)}
    if all_arms or control:
        arms["WGAN-GP (RMSProp)"] = load_preset("cifar10_wgan_gp", **scale, optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5)
    if all_arms:
        arms["DCGAN"] = load_preset("cifar10_wgan_gp", **scale, loss="gan-ns", gp_weight=0.0, lr_g=2e-4, lr_d=2e-4,
                               beta2=0.999, n_critic=1)
        for arm in arms.values():
            arm.update(checkpoint_every=checkpoint_every or max(1, arm["iterations"] // 4), keep_checkpoints=True)
    return arms


def compare(variants: dict[str, dict], seeds: list[int], runs_dir: str | Path, scoring: ScoringSpec,
            **executor) -> tuple[dict[tuple[str, int], TrainResult], pd.DataFrame]:
    """Train and score every (variant, seed): (runs, one table row per run with fid, kid, ...)."""
    trained = run_grid({}, variants, seeds, runs_dir, scoring=scoring, **executor)
    return trained, score_runs(trained, scoring)


def score_runs(trained: dict[tuple[str, int], TrainResult], spec: ScoringSpec) -> pd.DataFrame:
    """FID/KID (and IS when possible) of every trained generator: one row per (variant, seed).
    Read from the runs' score caches when the grid scored them; with checkpoint scoring
    (spec.checkpoints), the last checkpoint's (the final generator)."""
    rows = []
    for (name, seed), r in trained.items():
        s = max(score_run(r.cfg, spec), key=lambda row: row["iteration"])
        rows.append({"variant": name, "seed": seed, "fid": s["fid"], "kid": s["kid_mean"], "kid_std": s["kid_std"],
                     "wall_time_s": r.history[-1]["wall_time"] if r.history else float("nan"),
                     "isc": s["isc_mean"], "isc_unavailable": s["isc_unavailable"]})
    return pd.DataFrame(rows)


def score_checkpoints(run: TrainResult, spec: ScoringSpec, loss_key: str, window: int = 10) -> pd.DataFrame:
    """Every kept checkpoint's scores (KID, FID) next to the logged loss it should track,
    averaged over the `window` logged iterations before it, as the WGAN paper's curves are
    smoothed (Figs. 3-4), and the run's logged wall-clock seconds by then (WGAN-GP Fig. 3's x-axis)."""
    hist = pd.DataFrame(read_history(run.out_dir))
    rows = []
    for s in score_run(run.cfg, spec):
        recent = hist[hist.iteration < s["iteration"]].tail(window)
        rows.append({"iteration": s["iteration"], "kid": s["kid_mean"], "fid": s["fid"],
                     loss_key: float(recent[loss_key].mean()),
                     "wall_time": float(recent.wall_time.iloc[-1]) if len(recent) else float("nan")})
    return pd.DataFrame(rows)


def toy_scores(trained: dict[tuple[str, int], TrainResult], n_eval: int, wasserstein: bool = True) -> pd.DataFrame:
    """Every toy generator against its mixture: mode coverage (`metrics.mode_coverage`: modes reached,
    modes covered, the 3σ rate) and, with `wasserstein`, W1 between n_eval generated and n_eval real
    points (`metrics.empirical_wasserstein`, exact). Generated noise and real points are seeded by the
    run's seed (1000 + seed, 2000 + seed)."""
    import torch

    from .metrics import empirical_wasserstein, mode_coverage, sample_generator
    from .toy import sample_toy

    rows = []
    for (name, seed), r in trained.items():
        fake = sample_generator(r.generator, n_eval, seed=1000 + seed)
        row = {"variant": name, "seed": seed}
        if wasserstein:
            real = sample_toy(r.cfg.dataset, n_eval, torch.Generator().manual_seed(2000 + seed))
            row["w1"] = empirical_wasserstein(fake, real)
        rows.append({**row, **mode_coverage(fake, r.cfg.dataset).as_dict()})
    return pd.DataFrame(rows)


def histories_frame(results: dict[tuple[str, int], TrainResult]) -> pd.DataFrame:
    """Long table of every logged row with its variant and seed (for seaborn seed bands)."""
    frames = []
    for (name, seed), res in results.items():
        df = pd.DataFrame(res.history)
        df["variant"], df["seed"] = name, seed
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def run_signature(values: dict) -> dict:
    """A run's config without where it goes, how long it trains and its seed."""
    return {k: v for k, v in keyed_values(config_from_dict(dict(values))).items() if k not in fields_with(LENGTH)}


def coverage_curve(runs: dict[tuple[str, int], TrainResult], every: int, last: int, n_eval: int) -> list[dict]:
    """Mode coverage of every (variant, seed) toy run at each kept checkpoint every..last: one row
    per checkpoint with its generator iterations, critic updates and logged wall-clock seconds (the
    run's own clock, for comparisons at equal updates or equal time). The generated noise is seeded
    as in the comparison (1000 + seed)."""
    from .metrics import mode_coverage, sample_generator
    from .rundir import load_run
    from .train import critic_steps_total

    rows = []
    for (name, seed), r in runs.items():
        for it in range(every, last + 1, every):
            run = load_run(r.cfg, it)
            cov = mode_coverage(sample_generator(run.generator, n_eval, seed=1000 + seed), r.cfg.dataset)
            wall = run.history[-1]["wall_time"] if run.history else None  # the last log before the checkpoint
            rows.append(dict(variant=name, seed=seed, iteration=it, wall_time=wall,
                             critic_updates=critic_steps_total(it, r.cfg.n_critic, r.cfg.critic_schedule),
                             **cov.as_dict()))
    return rows


def coverage_measurement(details_path: str | Path, signatures: dict[str, dict], seeds: list[int],
                         n_eval: int) -> tuple[list[dict] | None, str]:
    """The mode-coverage curves of a separate, longer measurement (notebook 01 rendered with a
    larger coverage_factor; its details.json) when it trained these very run signatures (one per
    variant) with these seeds and counted modes on as many samples: (rows, "") or (None, why it
    does not apply)."""
    path = Path(details_path)
    if not path.is_file():
        return None, f"no measurement at {path}"
    details = json.loads(path.read_text())
    measured = details.get("coverage_config") or {}
    if measured.get("n_eval") != n_eval:
        return None, f"{path} counted modes on {measured.get('n_eval')} samples, this run on {n_eval}"
    from .config import TrainConfig

    defaults = {k: f.default for k, f in TrainConfig.__dataclass_fields__.items()}
    runs = measured.get("runs") or {}
    rows = details.get("coverage_25gaussians") or []
    for variant, signature in signatures.items():
        if variant not in runs:
            return None, f"{path} did not train {variant} longer"
        theirs = {**{k: defaults.get(k) for k in signature}, **runs[variant]}  # fields added later: default
        differ = sorted(k for k in set(theirs) | set(signature) if theirs.get(k) != signature.get(k))
        if differ:
            return None, f"{path} measured a different {variant} config ({', '.join(differ)} differ)"
        missing = sorted(set(seeds) - {r["seed"] for r in rows if r.get("variant") == variant})
        if missing:
            return None, f"{path} has no {variant} coverage curve for seeds {missing}"
    return [r for r in rows if r["seed"] in seeds and r["variant"] in signatures], ""


def coverage_verdict_scale(coverage_rows: list[dict], seeds: list[int], iterations: int, coverage_iterations: int,
                           at_base: float, curve_name: str) -> dict:
    """What WGAN-GP's 25-Gaussian coverage curve says about the scale that would settle notebook 01's
    25-Gaussian claims: the iteration each seed first covers >= 20 of 25 modes (None: not within the
    curve), the coverage at the curve's end, and the `next_scale` text (every arm trained as long as
    WGAN-GP needed; `at_base`: its coverage at the comparison's `iterations`). Reads WGAN-GP's rows."""
    coverage_rows = [r for r in coverage_rows if r["variant"] == "WGAN-GP"]
    reached = {s: next((r["iteration"] for r in coverage_rows if r["seed"] == s and r["modes_covered"] >= 20), None)
               for s in seeds}
    final = [r["modes_covered"] for r in coverage_rows if r["iteration"] == coverage_iterations]
    reach_text = ", ".join(f"seed {s}: {'not within ' + str(coverage_iterations) if v is None else v}"
                           for s, v in reached.items())
    if all(v is not None for v in reached.values()):  # every seed got there: that is the scale to compare at
        settle = (f"every variant compared after ≥ {max(reached.values())} generator iterations, by which every "
                  f"seed of WGAN-GP has covered ≥ 20 of 25 modes ({curve_name}; {at_base:.1f} at {iterations}): "
                  f"the claims at {coverage_iterations} iterations; the paper: 100k (gan_toy.py)")
    else:
        settle = (f"every variant trained for > {coverage_iterations} generator iterations: by then WGAN-GP covers "
                  f"{pd.Series(final).mean():.1f} of 25 modes ({curve_name}), against {at_base:.1f} at "
                  f"{iterations}; the paper: 100k (gan_toy.py)")
    return {"reached": reached, "final": final, "reach_text": reach_text, "settle": settle}


def class_scores(trained: dict[tuple[str, int], TrainResult], classifier, n: int) -> pd.DataFrame:
    """How the digit classifier (`classifier.load_classifier`) reads n samples of every generator:
    one row per (variant, seed) with the classes covered, the class entropy, the mean confidence and
    the classifier score (`classifier.class_histogram`). Noise seeded by the run's seed (1000 + seed)."""
    from .classifier import class_histogram
    from .metrics import sample_generator

    return pd.DataFrame([{"variant": name, "seed": seed,
                          **class_histogram(classifier, sample_generator(r.generator, n, seed=1000 + seed))}
                         for (name, seed), r in trained.items()])


def checkpoint_class_scores(trained: dict[tuple[str, int], TrainResult], classifier, image_size: int) -> pd.DataFrame:
    """The digit classifier on every run's fixed-noise sample grids over training (the run records
    `sample_every` wrote: 64 samples each, read back from the PNG): one row per (variant, seed, iteration)
    with `classifier.class_histogram`'s fields. What a convergence check reads without the weights."""
    from .classifier import class_histogram
    from .plots import read_image_grid
    from .rundir import sample_figures

    rows = []
    for (name, seed), r in trained.items():
        for iteration, path in sample_figures(r.out_dir):
            rows.append({"variant": name, "seed": seed, "iteration": iteration,
                         **class_histogram(classifier, read_image_grid(path, image_size))})
    return pd.DataFrame(rows)
