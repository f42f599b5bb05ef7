"""Typed run configuration, validated before any work starts.

One `TrainConfig` describes every variant in both papers; presets live in `configs/` and are
read by `presets`.
Every field has a docstring. Bad input raises `ConfigError` with ONE line naming the
field, the bad value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .coerce import coerce
from .errors import ConfigError, WganReproError, fail as _fail


REPO = Path(__file__).resolve().parents[1]

TOY_DATASETS = ("8gaussians", "25gaussians", "swissroll")
IMAGE_DATASETS = ("mnist", "fashion-mnist", "cifar10", "lsun-bedroom", "folder")
DATASETS = TOY_DATASETS + IMAGE_DATASETS
ARCHS = ("toy", "dcgan", "gp-dcgan", "mlp")
G_ARCHS = ARCHS + ("gp-constant",)
LOSSES = ("wgan", "gan", "gan-ns")
OPTIMIZERS = ("rmsprop", "adam")
NORMS = ("batch", "layer", "none")
SCHEDULES = ("constant", "wgan")
DEVICES = ("auto", "cpu", "cuda")
IMAGE_SIZES = {"dcgan": (32, 64), "gp-dcgan": (28, 32, 64), "gp-constant": (28, 32, 64), "mlp": (28, 32, 64),
               "gp-random": (28, 32)}
RANDOM_ARCH = re.compile(r"gp-random-(\d+)")  # 'gp-random-<k>': architecture k of WGAN-GP Table 1's set


def table1_index(arch: str | None) -> int | None:
    """k of 'gp-random-<k>' (architecture k of WGAN-GP Table 1's set); None for every other name."""
    m = RANDOM_ARCH.fullmatch(arch or "")
    return int(m.group(1)) if m else None


def arch_family(arch: str) -> str:
    """'gp-random-17' -> 'gp-random'; every other architecture name is its own family."""
    return "gp-random" if table1_index(arch) is not None else arch


FLOAT32_MAX = 3.4028234663852886e38


# Field roles (field metadata, read with `fields_with`):
OUTSIDE_KEY = "outside_key"  # never changes a run's numbers: not part of its folder key (grid.run_key)
ON_RESUME = "on_resume"      # may differ between a run and its resumption
KEY_UNLESS_DEFAULT = "key_unless_default"  # part of the key only when set: a field added later keeps the
#                                             folder keys of every run made before it
LENGTH = "length"            # how long it trains (and its seed): a longer run of the same signature
#                              passes through this run's weights at this run's length


def _f(default, *roles: str):
    return field(default=default, metadata={"roles": frozenset(roles)})


def keyed_values(cfg: TrainConfig) -> dict:
    """The fields that can change a run's numbers (its key): all but OUTSIDE_KEY, and KEY_UNLESS_DEFAULT
    fields only when they are not at their default."""
    outside, optional = fields_with(OUTSIDE_KEY), fields_with(KEY_UNLESS_DEFAULT)
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in cfg.to_dict().items()
            if k not in outside and not (k in optional and v == defaults[k])}


def fields_with(role: str) -> frozenset[str]:
    """Names of the TrainConfig fields that have `role` (OUTSIDE_KEY, ON_RESUME, LENGTH)."""
    return frozenset(f.name for f in dataclasses.fields(TrainConfig) if role in f.metadata.get("roles", ()))


def config_mismatch(saved: dict, cfg: TrainConfig) -> str | None:
    """'key=ours (checkpoint: theirs)' for the first field that decides a run's numbers (its key, ON_RESUME
    fields aside) where a checkpoint's own config differs from `cfg`; None when it is this run's."""
    defaults = TrainConfig.__dataclass_fields__
    may_differ = fields_with(ON_RESUME)
    for key, value in keyed_values(cfg).items():
        theirs = saved.get(key, defaults[key].default)  # a field added after the checkpoint: its default
        if key not in may_differ and theirs != value:
            return f"{key}={value!r} (checkpoint: {theirs!r})"
    return None


@dataclass
class TrainConfig:
    # --- run ---
    seed: int = _f(0, LENGTH)
    """Seed for every random number in the run (torch, data order). Same seed on CPU -> same numbers."""
    device: str = _f("auto", OUTSIDE_KEY, ON_RESUME)
    """'auto' (CUDA when present, else CPU), 'cpu' or 'cuda'."""
    graphs: str = _f("auto", OUTSIDE_KEY, ON_RESUME)
    """'auto': on CUDA, capture one critic step and one generator step as CUDA graphs after a few eager
    iterations and replay them (in-memory images and toy data); 'off': eager everywhere. The CPU is
    always eager."""
    precision: str = _f("tf32", KEY_UNLESS_DEFAULT)
    """'tf32': fp32 weights and arithmetic, with PyTorch's defaults on CUDA (cuDNN convolutions in TF32,
    matrix products in fp32); 'bf16': CUDA only, convolutions and matrix products under bf16 autocast,
    losses, the penalty's norms and the optimisers in fp32. Changes the numbers: part of a run's key."""
    out_dir: str = _f("runs/default", OUTSIDE_KEY, ON_RESUME)
    """Folder for checkpoints, DVCLive logs, metrics history and sample grids."""

    # --- data ---
    dataset: str = "8gaussians"
    """One of 8gaussians, 25gaussians, swissroll (WGAN-GP toy code), mnist, fashion-mnist, cifar10,
    lsun-bedroom, folder (any image folder, see `data_dir`)."""
    data_root: str | None = _f(None, OUTSIDE_KEY, ON_RESUME)
    """Where datasets live. None: $WGAN_REPRO_DATA, else ./data."""
    data_dir: str | None = None
    """Image folder for dataset='folder' (images anywhere below it)."""
    download: bool = False
    """Allow torchvision to download MNIST/Fashion-MNIST/CIFAR-10 when they are not found."""
    image_size: int = 32
    """Side of the square images in pixels (28, 32 or 64; DCGAN needs 32 or 64). Ignored for toy data."""
    train_size: int | None = None
    """Train on only this many images: the first of a fixed permutation of the training set (the same for
    every seed; WGAN-GP §5.6 trains on 1,000 MNIST digits). None: all images (less any held out)."""
    heldout_size: int = 0
    """Hold out this many images (the next ones of that permutation, never trained on) and log the critic's
    W estimate on them beside the one on training images, on logged iterations (WGAN-GP Fig. 5b; the
    official gan_mnist.py's dev disc cost). It reads no random number of the run: with train_size set, any
    heldout_size trains the same numbers (without train_size, held-out images leave the training set)."""

    # --- models ---
    arch: str = "toy"
    """Critic architecture, and the generator's unless g_arch says otherwise: 'toy' (gan_toy.py,
    3 x dim ReLU), 'dcgan' (the WGAN code's models/dcgan.py: 4x4 kernels), 'gp-dcgan' (the WGAN-GP
    code's DCGAN: Linear first layer, 5x5 kernels; gan_mnist.py at 28 px, gan_cifar.py at 32 px,
    gan_64x64.py at 64 px), 'mlp' (WGAN §4: 4 x dim ReLU), 'gp-random-<k>' (architecture k drawn from
    WGAN-GP Table 1's set; `models.table1_architecture`)."""
    g_arch: str | None = None
    """Generator architecture when it differs from the critic's: one of arch's values or
    'gp-constant' (gan_64x64.py's WGANPaper_CrippledDCGANGenerator: no batch norm, dim filters in
    every layer; WGAN Fig. 6). WGAN Fig. 7 pairs g_arch='mlp' with a DCGAN critic. None: arch."""
    dim: int = 512
    """Width: hidden units for toy/mlp, base channel count for the DCGANs (paper: 512 toy/mlp, 64 dcgan)."""
    g_dim: int | None = None
    """The generator's width when it differs from the critic's (e.g. a 512-unit MLP generator). None: dim."""
    z_dim: int | None = None
    """Noise dimension. None: 2 for toy (gan_toy.py), 128 for the WGAN-GP code's generators, 100 otherwise."""
    g_batchnorm: bool = True
    """Batch norm in the generator. False with arch 'dcgan' is the WGAN code's `--noBN` generator
    (DCGAN_G_nobn: the halving pyramid without batch norm); the WGAN paper's Fig. 6 generator is
    g_arch='gp-constant'."""
    d_norm: str = "batch"
    """Normalisation in the critic: 'batch', 'layer' or 'none'. 'batch' with a gradient penalty
    needs allow_batchnorm_with_gp (WGAN-GP §4: the penalty is per example, batch norm is not)."""
    allow_batchnorm_with_gp: bool = False
    """Explicitly allow d_norm='batch' together with gp_weight > 0."""

    # --- objective and Lipschitz method ---
    loss: str = "wgan"
    """'wgan' (critic maximises E f(x) - E f(G(z))), 'gan' (minimax), 'gan-ns' (non-saturating G)."""
    clip_value: float | None = None
    """Weight clipping to [-c, c] after every critic step (WGAN Alg. 1: c = 0.01). None: no clipping."""
    gp_weight: float = 0.0
    """Gradient-penalty weight lambda (WGAN-GP Alg. 1: 10). 0: no penalty."""
    gp_one_sided: bool = False
    """Penalise only gradient norms above 1: lambda * max(0, ||grad|| - 1)^2."""
    allow_clip_with_gp: bool = False
    """Explicitly allow weight clipping and a gradient penalty in the same run."""
    allow_unconstrained: bool = False
    """Explicitly allow loss 'wgan' with neither clipping nor a penalty (an unconstrained critic:
    its 'W estimate' is unbounded)."""

    # --- optimisation ---
    optimizer: str = "rmsprop"
    """'rmsprop' (WGAN) or 'adam' (WGAN-GP)."""
    lr_g: float = 5e-5
    """Generator learning rate (WGAN: 5e-5; WGAN-GP: 1e-4)."""
    lr_d: float = 5e-5
    """Critic learning rate."""
    beta1: float = 0.5
    """Adam beta1 (WGAN-GP paper Alg. 1: 0; its official DCGAN/toy code: 0.5)."""
    beta2: float = 0.9
    """Adam beta2 (WGAN-GP: 0.9)."""
    batch_size: int = 64
    """Examples per critic and generator step (both papers: 64; WGAN-GP toy code: 256)."""
    n_critic: int = 5
    """Critic steps per generator iteration (both papers: 5)."""
    critic_schedule: str = "constant"
    """'constant' (n_critic every iteration) or 'wgan' (the WGAN code: 100 critic steps for the
    first 25 generator iterations and every 500th, n_critic otherwise)."""
    iterations: int = _f(1000, ON_RESUME, LENGTH)
    """Generator iterations to train for."""

    # --- logging and checkpoints ---
    log_every: int = _f(10, ON_RESUME)
    """Log metrics every this many generator iterations (and the last). Reading a logged value makes
    the host wait for the device, so logging every iteration slows a GPU run."""
    sample_every: int = _f(500, ON_RESUME)
    """Save a fixed-noise sample figure every this many generator iterations (0: only at the end)."""
    checkpoint_every: int = _f(500, ON_RESUME, LENGTH)
    """Write a checkpoint every this many generator iterations (0: only at the end)."""
    keep_checkpoints: bool = _f(False, ON_RESUME, LENGTH)
    """Keep every checkpoint as ckpt_XXXXXX.pt besides last.pt (e.g. to score them later)."""
    resume: bool = _f(False, OUTSIDE_KEY, ON_RESUME)
    """Continue from out_dir/checkpoints/last.pt when it exists."""
    progress: bool = _f(True, OUTSIDE_KEY, ON_RESUME)
    """Show a tqdm progress bar."""
    threads: int = _f(1, OUTSIDE_KEY, ON_RESUME)
    """torch's intra-op threads for a CPU run: 1, as every grid runs (the same numbers whichever executor ran it;
    on a busy machine one thread also avoids oversubscription); 0 keeps torch's default."""
    dvclive: bool = _f(True, OUTSIDE_KEY, ON_RESUME)
    """Also log through DVCLive to out_dir/dvclive (`dvc plots show <out_dir>/dvclive/plots/metrics` draws one
    run). Grids turn it off: the pipeline's plots read results/*/curves.csv."""

    # ------------------------------------------------------------------
    def __post_init__(self) -> None:
        validate(self)

    @property
    def is_toy(self) -> bool:
        return self.dataset in TOY_DATASETS

    @property
    def channels(self) -> int:
        return 1 if self.dataset in ("mnist", "fashion-mnist") else 3

    @property
    def generator_arch(self) -> str:
        return self.g_arch or self.arch

    @property
    def generator_dim(self) -> int:
        return self.g_dim or self.dim

    @property
    def noise_dim(self) -> int:
        if self.z_dim is not None:
            return self.z_dim
        if self.generator_arch == "toy":
            return 2
        return 128 if self.generator_arch.startswith("gp-") else 100

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _choice(cfg, name: str, choices) -> None:
    v = getattr(cfg, name)
    if v not in choices and not (name in ("arch", "g_arch") and table1_index(str(v)) is not None):
        _fail(name, v, "one of " + ", ".join(map(str, choices)) + (", gp-random-<k>" if "arch" in name else ""))


def _positive(cfg, name: str, strict: bool = True) -> None:
    v = getattr(cfg, name)
    if (v <= 0 if strict else v < 0) or (isinstance(v, float) and not math.isfinite(v)):
        _fail(name, v, "must be " + ("> 0" if strict else ">= 0"))


def validate(cfg: TrainConfig) -> None:
    """Check types, ranges and combinations; raise ConfigError on the first problem."""
    for f in dataclasses.fields(cfg):
        setattr(cfg, f.name, _coerce(f.name, getattr(cfg, f.name), f.type))
    _choice(cfg, "dataset", DATASETS)
    _choice(cfg, "arch", ARCHS)
    if cfg.g_arch is not None:
        _choice(cfg, "g_arch", G_ARCHS)
    if cfg.train_size is not None and cfg.train_size < 1:
        _fail("train_size", cfg.train_size, "must be >= 1 (or null for all images)")
    if cfg.heldout_size < 0:
        _fail("heldout_size", cfg.heldout_size, "must be >= 0")
    if cfg.is_toy and (cfg.train_size is not None or cfg.heldout_size):
        _fail("train_size" if cfg.train_size is not None else "heldout_size",
              cfg.train_size if cfg.train_size is not None else cfg.heldout_size,
              f"toy dataset {cfg.dataset!r} draws fresh samples: no training subset or held-out split")
    if cfg.g_dim is not None and cfg.g_dim < 1:
        _fail("g_dim", cfg.g_dim, "must be >= 1 (or null for dim)")
    _choice(cfg, "loss", LOSSES)
    _choice(cfg, "optimizer", OPTIMIZERS)
    _choice(cfg, "d_norm", NORMS)
    _choice(cfg, "critic_schedule", SCHEDULES)
    _choice(cfg, "graphs", ("auto", "off"))
    _positive(cfg, "threads", strict=False)
    _choice(cfg, "precision", ("tf32", "bf16"))
    if not (cfg.device in DEVICES or re.fullmatch(r"cuda:\d+", cfg.device)):
        _fail("device", cfg.device, "one of auto, cpu, cuda, cuda:N")
    for name in ("lr_g", "lr_d", "batch_size", "iterations", "dim"):
        _positive(cfg, name)
    for name in ("gp_weight", "log_every", "sample_every", "checkpoint_every"):
        _positive(cfg, name, strict=False)
    for f in dataclasses.fields(cfg):  # training runs in float32: a value past its range becomes inf
        v = getattr(cfg, f.name)
        if isinstance(v, float) and abs(v) > FLOAT32_MAX:
            _fail(f.name, v, f"must be finite in float32 (|value| <= {FLOAT32_MAX:.3g})")
    if not 0 <= cfg.seed < 2**32:
        _fail("seed", cfg.seed, "must be an integer in [0, 2**32)")
    if cfg.log_every < 1:
        _fail("log_every", cfg.log_every, "must be >= 1")
    if cfg.n_critic < 1:
        _fail("n_critic", cfg.n_critic, "must be >= 1")
    if cfg.z_dim is not None and cfg.z_dim < 1:
        _fail("z_dim", cfg.z_dim, "must be >= 1 (or null for the architecture's default)")
    if cfg.clip_value is not None and not (cfg.clip_value > 0 and math.isfinite(cfg.clip_value)):
        _fail("clip_value", cfg.clip_value, "must be > 0 (or null for no clipping)")
    for name in ("beta1", "beta2"):
        v = getattr(cfg, name)
        if not 0 <= v < 1:
            _fail(name, v, "must be in [0, 1)")
    if cfg.clip_value is not None and cfg.gp_weight > 0 and not cfg.allow_clip_with_gp:
        _fail("clip_value", cfg.clip_value, "clipping together with gp_weight > 0 needs "
              "allow_clip_with_gp=true (pick one Lipschitz method)")
    if cfg.gp_weight > 0 and cfg.d_norm == "batch" and not cfg.allow_batchnorm_with_gp:
        _fail("d_norm", cfg.d_norm, "a gradient-penalty critic takes 'layer' or 'none' "
              "(WGAN-GP §4), or set allow_batchnorm_with_gp=true")
    for name in ("arch", "g_arch"):
        arch = getattr(cfg, name)
        if arch is None:
            continue
        if cfg.is_toy and arch != "toy":
            _fail(name, arch, f"toy dataset {cfg.dataset!r} needs 'toy'")
        if not cfg.is_toy:
            if arch == "toy":
                _fail(name, arch, f"image dataset {cfg.dataset!r} needs one of "
                      + ", ".join(a for a in G_ARCHS if a != "toy"))
            sizes = IMAGE_SIZES[arch_family(arch)]
            if cfg.image_size not in sizes:
                _fail("image_size", cfg.image_size, f"{name} {arch!r} supports " + ", ".join(map(str, sizes)))
    if cfg.dataset == "folder" and not cfg.data_dir:
        _fail("data_dir", cfg.data_dir, "dataset 'folder' needs data_dir (a folder of images)")
    if cfg.loss == "wgan" and cfg.clip_value is None and cfg.gp_weight == 0 and not cfg.allow_unconstrained:
        _fail("gp_weight", cfg.gp_weight, "loss 'wgan' needs a Lipschitz method: clip_value (WGAN) or "
              "gp_weight > 0 (WGAN-GP), or allow_unconstrained=true")


# ---------------------------------------------------------------------- field types
def _coerce(name: str, value, annotation):
    hint = _resolve(annotation)
    base = [h for h in hint if h is not type(None)][0]
    return coerce(name, value, base, optional=type(None) in hint)


_HINTS: dict = {}


def _resolve(annotation) -> tuple:
    """A field annotation (a string under `from __future__ import annotations`) -> its types."""
    if isinstance(annotation, str):
        if not _HINTS:
            _HINTS.update({f.type: h for f, h in zip(dataclasses.fields(TrainConfig),
                                                      typing.get_type_hints(TrainConfig).values())})
        annotation = _HINTS[annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))

__all__ = ["ConfigError", "TrainConfig", "WganReproError", "coerce", "fields_with"]
