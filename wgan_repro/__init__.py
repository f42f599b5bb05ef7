"""wgan-repro: a reproducible replication of WGAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017).

The public names; each module's docstring says what it holds (docs/architecture.md: *Layout*). The training
loop is `wgan_repro.train.train` (not re-exported here: the name would hide its module).
"""
from .claims import verdict
from .config import ConfigError, TrainConfig, WganReproError
from .presets import load_config, load_preset
from .experiments import compare
from .fidelity import ScoringSpec, score
from .grid import run_grid
from .rundir import load_run

__all__ = ["ConfigError", "ScoringSpec", "TrainConfig", "WganReproError", "compare", "load_config", "load_preset",
           "load_run", "run_grid", "score", "verdict"]
