import os
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


# Each test session gets its own writable cache unless CI / the user set one.
if "WGAN_REPRO_CACHE" not in os.environ:
    os.environ["WGAN_REPRO_CACHE"] = tempfile.mkdtemp(prefix="wgan-repro-test-cache-")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))


def shared_data() -> Path | None:
    """The offline dataset copies (../shared/data or $WGAN_REPRO_DATA), if present."""
    for p in [os.environ.get("WGAN_REPRO_DATA"), REPO.parent / "shared" / "data"]:
        if p and Path(p).is_dir():
            return Path(p)
    return None


def tiny_toy_config(tmp_path, **kw):
    from wgan_repro.config import TrainConfig

    values = dict(dataset="8gaussians", arch="toy", dim=32, loss="wgan", gp_weight=10.0, d_norm="none",
                  optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=32, n_critic=2, iterations=12,
                  sample_every=0, checkpoint_every=4, progress=False, dvclive=True, log_every=1,
                  out_dir=str(tmp_path / "run"))
    values.update(kw)
    return TrainConfig(**values)
