"""`wgan-repro` command line: train, fields, evaluate, reference-stats, run-notebook, prepare-data.

Every error this package raises (`config.WganReproError`) is one line and exit code 2; an
operating-system error (a read-only folder, a full disk) is one line naming the path and exit
code 1; Ctrl-C or SIGTERM stops with one line saying what a re-run continues, exit 130.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


# ---------------------------------------------------------------------- train, fields
def _train(args) -> int:
    from .presets import load_config
    from .train import train

    cfg = load_config(args.config, args.overrides)
    result = train(cfg, overwrite=args.overwrite)
    last = result.history[-1] if result.history else {}
    print(json.dumps({"out_dir": str(result.out_dir), "iterations": cfg.iterations,
                      "wasserstein_estimate": last.get("wasserstein_estimate")}))
    return 0


def _fields(args) -> int:
    import dataclasses

    from .config import TrainConfig
    from .presets import field_docs

    docs = field_docs()
    for f in dataclasses.fields(TrainConfig):
        print(f"{f.name} (default {f.default!r}): {docs.get(f.name, '')}")
    return 0


# ---------------------------------------------------------------------- scores
def _reference_stats(args) -> int:
    from .config import ConfigError
    from .fidelity import reference_features
    from .inception import offline_weights

    if args.n < 0 or args.n == 1:
        raise ConfigError(f"n={args.n} is not allowed: 0 (all images) or at least 2")
    feats = reference_features(args.reference, args.image_size, args.n or None, device=args.device)
    _, digest = offline_weights()
    print(f"{args.reference}: {len(feats)} images, {feats.shape[1]}-d features cached (weights {digest[:12]})")
    return 0


def _evaluate(args) -> int:
    from .config import ConfigError
    from .fidelity import check_counts, score
    from .rundir import load_generator

    # everything checked before any work starts
    n_reference = None if args.n_reference == 0 else args.n_reference
    check_counts(args.n_samples, n_reference, "n_samples")
    if not 0 <= args.seed < 2**63:
        raise ConfigError(f"seed={args.seed} is not allowed: an integer in [0, 2**63)")
    from .device import resolve_device

    resolve_device(args.device)  # 'bogus', or 'cuda' without one: one line, before the checkpoint is read
    if args.out:
        out = Path(args.out)
        if not out.parent.is_dir():
            raise ConfigError(f"out={args.out!r} is not allowed: folder {out.parent} does not exist")
    generator, cfg = load_generator(args.checkpoint, "cuda" if args.device == "cuda" else "cpu")
    if cfg.is_toy:
        raise ConfigError(f"checkpoint={args.checkpoint!r} is not allowed: it is a {cfg.dataset} (2-D points) run; "
                          f"FID/KID/IS score image generators (for toy runs: wgan_repro.metrics.mode_coverage)")
    reference = args.reference or f"{cfg.dataset}-train"
    result = score(generator, reference, n_reference, args.n_samples, cfg.image_size, seed=args.seed,
                   device=args.device, progress=True, data_root=cfg.data_root)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        from .files import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    return 0


# ---------------------------------------------------------------------- pipeline
def _run_notebook(args) -> int:
    import yaml

    from .config import ConfigError
    from .pipeline import run_notebook

    overrides = {}
    for k, v in args.param:
        try:
            overrides[k] = yaml.safe_load(v)
        except yaml.YAMLError as e:
            raise ConfigError(f"{k}={v!r} is not allowed: not valid YAML ({str(e).splitlines()[0]})") from None
    out = run_notebook(args.name, args.profile, overrides, results_root=args.results, runs_root=args.runs,
                       unless_committed=args.unless_committed)
    print(f"wrote {out}" if out is not None else
          f"{args.name}: its committed render has these parameters: kept, not re-run (an expensive stage; "
          f"`wgan-repro run-notebook {args.name}` re-runs it)", file=sys.stderr)
    return 0


def _prepare_data(args) -> int:
    from .files import atomic_write_text
    from .pipeline import prepare_data

    manifest = prepare_data(args.profile, download=args.download)
    atomic_write_text(args.manifest, json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest))
    return 0


# ---------------------------------------------------------------------- the parser
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wgan-repro")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    from .config import REPO
    from .pipeline import NOTEBOOKS

    parser = argparse.ArgumentParser(prog="wgan-repro", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"wgan-repro {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one variant from a YAML preset plus key=value overrides",
                       epilog="Fields: see `wgan-repro fields` or wgan_repro/config.py. Ctrl-C or SIGTERM saves a "
                              "checkpoint at the end of the iteration; resume=true continues from it.")
    p.add_argument("--config", "-c", help="YAML preset, e.g. configs/toy_8gaussians_wgan_gp.yaml")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in out_dir")
    p.add_argument("overrides", nargs="*", help="key=value, e.g. iterations=200 out_dir=runs/x")
    p.set_defaults(func=_train)

    p = sub.add_parser("fields", help="list every config field with its meaning and default")
    p.set_defaults(func=_fields)

    p = sub.add_parser("reference-stats", help="precompute and cache a reference split's Inception features")
    p.add_argument("reference", help="mnist-train, fashion-mnist-train, cifar10-train or an image folder")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--n", type=int, default=10_000, help="images to use (seeded subsample; 0 = all)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_reference_stats)

    p = sub.add_parser("evaluate", help="FID/KID/IS of a checkpoint's generator against a reference split")
    p.add_argument("checkpoint", help="a checkpoint file, e.g. runs/x/checkpoints/last.pt")
    p.add_argument("--reference", default=None, help="default: the dataset's training split")
    p.add_argument("--n-samples", type=int, default=5000, help="generated images (>= 2)")
    p.add_argument("--n-reference", type=int, default=10_000, help="reference images (>= 2; 0 = all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="write the metrics as JSON here (its folder must exist)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("run-notebook", help="execute one experiment notebook with papermill (a DVC stage)")
    p.add_argument("name", help=", ".join(NOTEBOOKS))
    p.add_argument("--profile", default=None, help="quick | paper (default: params.yaml's profile)")
    p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="override one parameter (YAML value, e.g. -p seeds '[0, 1, 2, 3, 4]')")
    p.add_argument("--results", default=str(REPO / "results"), help="rendered notebooks and metrics go here")
    p.add_argument("--runs", default=None, help="training runs (default: runs/ beside --results)")
    p.add_argument("--unless-committed", action="store_true",
                   help="keep the render already in --results when it was made with these parameters (02 and 09's "
                        "DVC stages: `dvc repro -f` keeps them, other parameters re-render them)")
    p.set_defaults(func=_run_notebook)

    p = sub.add_parser("prepare-data", help="datasets into the cache + reference features (the DVC data stage)")
    p.add_argument("--profile", default=None)
    p.add_argument("--download", action="store_true",
                   help="let torchvision download MNIST / Fashion-MNIST / CIFAR-10 when the data root lacks them")
    p.add_argument("--manifest", default=str(REPO / "results" / "data" / "manifest.json"))
    p.set_defaults(func=_prepare_data)
    return parser


def _stop_on_sigterm() -> None:
    """SIGTERM ends this process as Ctrl-C does: the finally blocks run (papermill shuts the
    kernel down, whose pool workers then checkpoint and stop), and one line says so."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    stop.one_line = True  # train() checkpoints, then lets this stop it (exit 130) instead of re-raising SIGTERM
    signal.signal(signal.SIGTERM, stop)


def _quiet_shutdown() -> None:
    """After a stop, the one line is all: the notebook client's abandoned tasks (a cell interrupted with its kernel)
    would otherwise print their tracebacks while the interpreter exits (asyncio's 'Task exception was never
    retrieved'), and multiprocessing's resource tracker its leak warnings."""
    import logging
    import warnings

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    logging.getLogger("traitlets").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore")


def main(argv: list[str] | None = None) -> int:
    from .config import WganReproError

    args = build_parser().parse_args(argv)
    _stop_on_sigterm()
    try:
        return args.func(args)
    except WganReproError as e:
        print(f"wgan-repro: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the environment: a read-only folder, a full disk, a missing device file
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        hint = {28: "free some space and run it again", 13: "make it writable or choose another folder",
                30: "make it writable or choose another folder"}.get(e.errno, "check it and run it again")
        print(f"wgan-repro: error: {e.strerror or e}{where}: {hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _quiet_shutdown()
        again = ("the same command with resume=true continues it" if args.command == "train" else
                 "running the same command again continues from them")
        print(f"wgan-repro: stopped ({args.command}); finished runs and checkpoints are kept, and {again}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
