"""What the notebooks call: train a grid of variants x seeds, score them, decide verdicts.

Notebooks stay thin (parameters, one call here, figures, verdict text); the logic lives here
and is tested in tests/.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .config import config_from_dict
from .train import TrainResult, train

REPRODUCED, NOT_REPRODUCED, UNRESOLVED = "reproduced", "not reproduced", "not resolved at this scale"

VERDICT_RULE = ("reproduced when the claimed-better variant's mean beats the other's by more than the "
                "sum of their standard deviations over seeds; not reproduced when the opposite holds "
                "by that margin; otherwise not resolved at this scale")


def verdict(better: list[float], worse: list[float], higher_is_better: bool = True) -> str:
    """Compare the variant the paper says is better against the other, over seeds (VERDICT_RULE)."""
    b, w = np.asarray(better, float), np.asarray(worse, float)
    if not higher_is_better:
        b, w = -b, -w
    margin = b.std() + w.std()
    gap = b.mean() - w.mean()
    if gap > margin and gap > 0:
        return REPRODUCED
    if -gap > margin and gap < 0:
        return NOT_REPRODUCED
    return UNRESOLVED


def train_grid(base: dict, variants: dict[str, dict], seeds: list[int], out_root: str | Path,
               progress: bool = True, executor: str = "auto",
               scoring: dict | None = None) -> dict[tuple[str, int], TrainResult]:
    """Train every (variant, seed) through an executor (`wgan_repro.runs`): finished runs are
    loaded, partial ones resume, each in out_root/<variant>/seed<k>-<config hash>.

    scoring: `scoring_spec(...)`: each run is also scored where it trained (FID/KID, cached in
    its folder), so `score_runs` / `score_checkpoints` then only read the numbers."""
    from .runs import run_grid

    return run_grid(base, variants, seeds, out_root, executor=executor, progress=progress,
                    desc=Path(out_root).name, scoring=scoring)


def scoring_spec(reference: str, image_size: int, n_samples: int, n_reference: int, isc: bool = True,
                 checkpoints: bool = False) -> dict:
    """The `fidelity.score_run` arguments that `train_grid(scoring=...)` and `score_runs` /
    `score_checkpoints` share (the same spec finds the same cached scores)."""
    return dict(reference=reference, image_size=image_size, n_samples=n_samples, n_reference=n_reference,
                isc=isc, checkpoints=checkpoints)


def histories_frame(results: dict[tuple[str, int], TrainResult]) -> pd.DataFrame:
    """Long table of every logged row with its variant and seed (for seaborn seed bands)."""
    frames = []
    for (name, seed), res in results.items():
        df = pd.DataFrame(res.history)
        df["variant"], df["seed"] = name, seed
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def summarize(rows: pd.DataFrame, by: str, columns: list[str]) -> dict:
    """{variant: {col: {mean, std, values}}} over seeds."""
    out = {}
    for name, group in rows.groupby(by, sort=False):
        out[name] = {c: {"mean": float(group[c].mean()), "std": float(group[c].std(ddof=0)),
                         "values": [float(v) for v in group[c]]} for c in columns}
    return out


def preset(name: str, **overrides) -> dict:
    """configs/<name>.yaml (the official code's settings, citing its file) with `overrides`
    (a profile's scale: iterations, width, ...); out_dir is left to the grid."""
    import yaml

    from .pipeline import REPO

    values = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    values.pop("out_dir", None)
    return {**values, **overrides}


def _clean(x):
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_metrics(out_dir: str | Path, details: dict, headline: dict | None = None) -> Path:
    """results/<notebook>/metrics.json: the few flat headline numbers the verdicts use (what
    `dvc metrics show` prints); details.json beside it: everything, claims included.
    NaN/inf are written as null."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "details.json").write_text(json.dumps(_clean(details), indent=2) + "\n")
    flat = {k: v for k, v in (headline or {}).items() if not isinstance(v, (dict, list))}
    if details.get("claims"):
        flat["claims_reproduced"] = sum(c["verdict"] == REPRODUCED for c in details["claims"])
        flat["claims_total"] = len(details["claims"])
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(_clean(flat), indent=2) + "\n")
    return path


def mean_std(values, prefix: str, scale: float = 1.0, digits: int = 4) -> dict:
    """{prefix: mean, prefix_sd: std} over seeds, rounded (headline metrics)."""
    v = np.asarray(values, float) * scale
    return {prefix: round(float(v.mean()), digits), f"{prefix}_sd": round(float(v.std()), digits)}


def scale_note(profile: str, ours: str, paper: str) -> str:
    """One markdown line: the scale this notebook ran at, and the paper's."""
    return f"**Scale.** This run ({profile} profile): {ours}. The paper: {paper}."


def claim(name: str, paper: str, ours: str, result: str, rule: str = VERDICT_RULE,
          next_scale: str | None = None) -> dict:
    """One scorecard row. next_scale: for a claim this run did not reproduce, the scale that
    would settle it (what we measured that points there, or the paper's scale); kept only then."""
    row = {"claim": name, "paper": paper, "ours": ours, "verdict": result, "rule": rule}
    if result != REPRODUCED and next_scale:
        row["next_scale"] = next_scale
    return row


def settle_with(claims: list[dict], next_scale: str) -> list[dict]:
    """Give every claim not reproduced that has no `next_scale` of its own this one."""
    for c in claims:
        if c["verdict"] != REPRODUCED and not c.get("next_scale"):
            c["next_scale"] = next_scale
    return claims


def claims_markdown(claims: list[dict]) -> str:
    """The notebook's verdict lines: claim, the paper's statement, our number, the verdict, and
    for a claim not reproduced the scale that would settle it."""
    return "\n".join(f"- **{c['claim']}** — paper: {c['paper']}; ours: {c['ours']} → **{c['verdict']}**"
                     + (f". *Would settle it:* {c['next_scale']}" if c.get("next_scale") else "")
                     for c in claims)


# A run's fields that say only how long it trains (and which seed): a longer run of the same
# signature passes through this run's weights at this run's length (tests/test_runs.py).
LENGTH_FIELDS = {"iterations", "checkpoint_every", "keep_checkpoints", "seed"}


def run_signature(values: dict) -> dict:
    """A run's config without where it goes, how long it trains and its seed."""
    from .runs import NOT_IN_KEY

    return {k: v for k, v in config_from_dict(dict(values)).to_dict().items() if k not in NOT_IN_KEY | LENGTH_FIELDS}


def coverage_measurement(details_path: str | Path, signature: dict, seeds: list[int],
                         n_eval: int) -> tuple[list[dict] | None, str]:
    """The mode-coverage curve of a separate, longer measurement (notebook 01 rendered with a
    larger coverage_factor; its details.json) when it trained this very run signature with these
    seeds and counted modes on as many samples: (rows, "") or (None, why it does not apply)."""
    path = Path(details_path)
    if not path.is_file():
        return None, f"no measurement at {path}"
    details = json.loads(path.read_text())
    measured = details.get("coverage_config") or {}
    if measured.get("n_eval") != n_eval:
        return None, f"{path} counted modes on {measured.get('n_eval')} samples, this run on {n_eval}"
    theirs = measured.get("run") or {}
    differ = sorted(k for k in set(theirs) | set(signature) if theirs.get(k) != signature.get(k))
    if differ:
        return None, f"{path} measured a different config ({', '.join(differ)} differ)"
    rows = [r for r in details.get("coverage_25gaussians") or [] if r["seed"] in seeds]
    missing = sorted(set(seeds) - {r["seed"] for r in rows})
    if missing:
        return None, f"{path} has no coverage curve for seeds {missing}"
    return rows, ""


def critic_layer_weights(critic: torch.nn.Module) -> np.ndarray:
    """All critic weight-matrix entries (not biases) as one array, for weight histograms."""
    return torch.cat([p.detach().flatten().cpu() for n, p in critic.named_parameters() if n.endswith("weight")
                      and p.dim() > 1]).numpy()


def gan_generator_gradient_vs_discriminator_steps(cfg_values: dict, pretrain_iterations: int, d_steps: list[int],
                                                  seed: int = 0, n_probe: int = 64) -> list[dict]:
    """Arjovsky & Bottou 2017, Fig. 2: fix a (briefly trained) generator, train the GAN
    discriminator alone for more and more steps, and measure the generator's gradient norm
    under the minimax loss log(1 - D(G(z))) and the non-saturating -log D(G(z)).
    """
    from . import objectives
    from .data import BatchStream
    from .train import make_optimizer

    cfg = config_from_dict({**cfg_values, "seed": seed, "iterations": max(pretrain_iterations, 1),
                            "progress": False, "dvclive": False, "sample_every": 0, "checkpoint_every": 0})
    base = train(cfg, overwrite=True)
    g, d = base.generator, base.critic
    device = next(g.parameters()).device
    torch.manual_seed(seed + 1)
    opt = make_optimizer(cfg, d.parameters(), cfg.lr_d)  # D continues from its jointly trained state
    stream = BatchStream(cfg, device)
    z_probe = torch.randn(n_probe, cfg.noise_dim, generator=torch.Generator().manual_seed(seed + 7)).to(device)
    rows, done, loss = [], 0, None
    g.eval()
    for target in sorted(d_steps):
        while done < target:
            real = stream.next()
            with torch.no_grad():
                fake = g(torch.randn(cfg.batch_size, cfg.noise_dim, device=device))
            loss = objectives.gan_discriminator_loss(d(real), d(fake))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
        d_loss = float(loss.detach()) if loss is not None else float("nan")
        row = {"discriminator_steps": target, "discriminator_loss": d_loss}
        for name, ns in (("minimax", False), ("non_saturating", True)):
            g.zero_grad(set_to_none=True)
            objectives.gan_generator_loss(d(g(z_probe)), non_saturating=ns).backward()
            row[f"generator_grad_norm_{name}"] = math.sqrt(sum(float(p.grad.pow(2).sum())
                                                               for p in g.parameters() if p.grad is not None))
        rows.append(row)
    return rows


def score_runs(trained: dict[tuple[str, int], TrainResult], reference: str, image_size: int, n_samples: int,
               n_reference: int, isc: bool = True) -> pd.DataFrame:
    """FID/KID (and IS when possible) of every trained generator: one row per (variant, seed).
    Read from the runs' score caches when `train_grid(scoring=...)` filled them."""
    from .fidelity import score_run

    rows = []
    for (name, seed), r in trained.items():
        (s,) = score_run(r.out_dir, reference, n_samples, n_reference, image_size, isc)
        rows.append({"variant": name, "seed": seed, "fid": s["fid"], "kid": s["kid_mean"], "kid_std": s["kid_std"],
                     "wall_time_s": r.history[-1]["wall_time"] if r.history else float("nan"),
                     "isc": s["isc_mean"], "isc_unavailable": s["isc_unavailable"]})
    return pd.DataFrame(rows)


def score_checkpoints(run_dir: str | Path, reference: str, n_samples: int, n_reference: int,
                      loss_key: str, window: int = 10, image_size: int | None = None) -> pd.DataFrame:
    """Score every kept checkpoint of a run (KID, FID) next to the logged loss it should track.

    loss_key is averaged over the `window` logged iterations before each checkpoint, as the
    WGAN paper's curves are smoothed (Figs. 3-4).
    """
    from .fidelity import score_run
    from .train import read_history

    run_dir = Path(run_dir)
    hist = pd.DataFrame(read_history(run_dir))
    rows = []
    for s in score_run(run_dir, reference, n_samples, n_reference, image_size, isc=False, checkpoints=True):
        recent = hist[hist.iteration < s["iteration"]].tail(window)
        rows.append({"iteration": s["iteration"], "kid": s["kid_mean"], "fid": s["fid"],
                     loss_key: float(recent[loss_key].mean())})
    return pd.DataFrame(rows)


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def instability(history: list[dict], key: str = "wasserstein_estimate") -> float:
    """Mean absolute change of a logged curve between consecutive logs over its second half,
    relative to its mean absolute level: large when training oscillates (WGAN §3, Adam)."""
    values = np.asarray([row[key] for row in history], float)
    half = values[len(values) // 2:]
    if len(half) < 2:
        return float("nan")
    return float(np.abs(np.diff(half)).mean() / (np.abs(half).mean() + 1e-12))


def critic_layer_gradient_norms(clip_value: float | None = None, gp_weight: float = 0.0, depth: int = 12,
                                dim: int = 128, steps: int = 200, dataset: str = "swissroll", batch_size: int = 256,
                                seed: int = 0) -> list[float]:
    """WGAN-GP Fig. 1(b): train a deep ReLU critic (`depth` linear layers) between a toy set and
    a fixed, untrained generator (standard normal points), with clipping at `clip_value` or the
    penalty, then return the norm of the critic loss's gradient w.r.t. each layer's weights,
    input layer first. Clipping makes these explode or vanish with depth; the penalty does not.
    """
    from torch import nn

    from . import objectives
    from .data import sample_toy

    torch.manual_seed(seed)
    sizes = [2] + [dim] * (depth - 1) + [1]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    critic = nn.Sequential(*layers[:-1])

    def forward(x):
        return critic(x).view(-1)

    opt = (torch.optim.RMSprop(critic.parameters(), lr=5e-5) if clip_value is not None
           else torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9)))
    for _ in range(steps + 1):
        real, fake = sample_toy(dataset, batch_size), torch.randn(batch_size, 2)
        loss = objectives.wgan_critic_loss(forward(real), forward(fake))
        if gp_weight > 0:
            loss = loss + objectives.gradient_penalty(forward, real, fake, gp_weight)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if _ == steps:  # measure on the last batch, before stepping
            return [m.weight.grad.norm().item() for m in critic if isinstance(m, nn.Linear)]
        opt.step()
        if clip_value is not None:
            objectives.clip_weights(critic, clip_value)
    raise AssertionError("unreachable")
