"""`wgan-repro` command line: train, evaluate, reference-stats, run-notebook."""
from __future__ import annotations

import argparse
import json
import sys


def _train(args) -> int:
    from .config import load_config
    from .train import train

    cfg = load_config(args.config, args.overrides)
    result = train(cfg, overwrite=args.overwrite)
    last = result.history[-1] if result.history else {}
    print(json.dumps({"out_dir": str(result.out_dir), "iterations": cfg.iterations,
                      "wasserstein_estimate": last.get("wasserstein_estimate")}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wgan-repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one variant from a YAML preset plus key=value overrides",
                       epilog="Fields: see `wgan-repro fields` or wgan_repro/config.py.")
    p.add_argument("--config", "-c", help="YAML preset, e.g. configs/toy_8gaussians_wgan_gp.yaml")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in out_dir")
    p.add_argument("overrides", nargs="*", help="key=value, e.g. iterations=200 out_dir=runs/x")
    p.set_defaults(func=_train)

    p = sub.add_parser("fields", help="list every config field with its meaning and default")
    p.set_defaults(func=_fields)

    from . import fidelity, pipeline

    fidelity.add_cli(sub)
    pipeline.add_cli(sub)

    return parser


def _fields(args) -> int:
    import dataclasses

    from .config import TrainConfig, field_docs

    docs = field_docs()
    for f in dataclasses.fields(TrainConfig):
        print(f"{f.name} (default {f.default!r}): {docs.get(f.name, '')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError
    from .data import DataNotFoundError
    from .fidelity import MetricsUnavailable
    from .pipeline import NotebookFailed
    from .train import RunExistsError, RunLockedError, TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataNotFoundError, RunExistsError, RunLockedError, TrainingDiverged,
            MetricsUnavailable, NotebookFailed) as e:
        print(f"wgan-repro: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
