"""The batches a run trains on: real images gathered on the device, or fresh toy samples."""
from __future__ import annotations

import torch

from . import data
from .config import ConfigError
from .data import _split, to_unit_range
from .toy import sample_toy


class BatchStream:
    """Endless, seeded, resumable batches of real data.

    Images: reshuffled each epoch with a permutation seeded by (seed, epoch); the position is
    part of the state, so a resumed run sees exactly the batches an uninterrupted one would.
    Toy data: fresh samples drawn on the device from the run's generator (saved in its checkpoints).
    In-memory images live on the device as uint8; the epoch's permutation is copied there once per
    epoch, and each batch is gathered there from a device-side position (`advance` on the host,
    `gather` on the device: no host-to-device copy per batch, and `gather` can be captured in a
    CUDA graph).
    """

    def __init__(self, cfg, device: torch.device, generator: torch.Generator | None = None):
        self.cfg, self.device, self.generator = cfg, device, generator
        self.epoch, self.pos = 0, 0
        self.source = None if cfg.is_toy else data.image_dataset(cfg)
        self.heldout = None
        if self.source is not None and (cfg.train_size is not None or cfg.heldout_size):
            self.source, self.heldout = _split(self.source, cfg.train_size, cfg.heldout_size)
        if isinstance(self.source, torch.Tensor):
            self.source = self.source.to(device)
        if self.source is not None and len(self.source) < cfg.batch_size:
            raise ConfigError(f"batch_size={cfg.batch_size} is not allowed: the dataset holds only "
                              f"{len(self.source)} images")
        self._perm = None    # the epoch's permutation (on the device for in-memory images)
        self._offset = None  # the position in it, on the device
        self._arange = None
        # held-out batches come from their own generator: the run's random numbers are untouched
        self._heldout_rng = torch.Generator().manual_seed(cfg.seed + 20_011)

    @property
    def graph_ready(self) -> bool:
        """Batches come from device-side work only (toy data, or images held in a device tensor)."""
        return self.source is None or isinstance(self.source, torch.Tensor)

    def heldout_batch(self) -> torch.Tensor | None:
        """A batch of held-out images (heldout_size > 0), else None."""
        if self.heldout is None or len(self.heldout) == 0:
            return None
        idx = torch.randint(len(self.heldout), (self.cfg.batch_size,), generator=self._heldout_rng)
        return to_unit_range(self.heldout[idx]).to(self.device)

    def _load_permutation(self) -> None:
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(len(self.source), generator=g)
        if not isinstance(self.source, torch.Tensor):
            self._perm = perm
            return
        if self._perm is None:  # device buffers, kept for the whole run (a captured graph reads them)
            self._perm = perm.to(self.device)
            self._offset = torch.zeros((), dtype=torch.long, device=self.device)
            self._arange = torch.arange(self.cfg.batch_size, device=self.device)
        else:
            self._perm.copy_(perm)  # once per epoch
        self._offset.fill_(self.pos)

    def advance(self) -> None:
        """The host's part of the next batch: a new epoch when the next batch does not fit."""
        b = self.cfg.batch_size
        if self.pos + b > len(self.source):  # drop the last incomplete batch, as drop_last=True
            self.epoch, self.pos = self.epoch + 1, 0
            self._load_permutation()
        elif self._perm is None:
            self._load_permutation()
        self.pos += b

    def gather(self) -> torch.Tensor:
        """The device's part of the next batch of in-memory images: indices from the device-side
        position, which moves on by one batch."""
        idx = self._perm[self._offset + self._arange]
        self._offset += self.cfg.batch_size
        return to_unit_range(self.source[idx])

    def prepare_static(self) -> None:
        """Before a CUDA graph captures `gather`: its buffers exist (they do after one batch)."""
        if self.source is not None and self._perm is None:
            self._load_permutation()

    def next(self) -> torch.Tensor:
        b = self.cfg.batch_size
        if self.source is None:
            return sample_toy(self.cfg.dataset, b, self.generator, device=self.device)
        self.advance()
        if isinstance(self.source, torch.Tensor):
            return self.gather()
        idx = self._perm[self.pos - b:self.pos]
        batch = torch.stack([self.source[int(i)] for i in idx])
        return to_unit_range(batch.to(self.device))

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        if self.source is not None:
            self._load_permutation()


__all__ = ["BatchStream"]
