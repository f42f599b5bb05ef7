"""Figures: sample grids, toy scatter + critic value surfaces (seed-band curves: seaborn in the notebooks).

Never switches matplotlib's backend (that would silently drop every inline figure from a
notebook kernel): figures written only to files are drawn on a bare `matplotlib.figure.Figure`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


GRID_NROW, GRID_PADDING = 8, 2  # the layout of every sample grid: written by save_image_grid, read back by
# read_image_grid, drawn by image_grid_array


def save_image_grid(path: str | Path, images: torch.Tensor, nrow: int = GRID_NROW) -> Path:
    """images in [-1, 1], (B, C, H, W) -> PNG grid."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.detach().cpu().add(1).div(2).clamp(0, 1), path, nrow=nrow, padding=GRID_PADDING)
    return path


def read_image_grid(path: str | Path, image_size: int, channels: int = 1, nrow: int = GRID_NROW,
                    padding: int = GRID_PADDING) -> torch.Tensor:
    """The inverse of `save_image_grid`: the PNG's cells back as images in [-1, 1], (B, channels, S, S), in
    the order they were written (8-bit: within 1/255 of what was saved). A grid whose size does not fit
    `image_size` and `padding` is a ValueError naming the file."""
    from PIL import Image

    with Image.open(path) as im:
        grid = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    step = image_size + padding
    rows, cols = (grid.shape[0] - padding) / step, (grid.shape[1] - padding) / step
    if rows != int(rows) or cols != int(cols) or int(cols) != nrow:
        raise ValueError(f"{path}: a {grid.shape[1]}x{grid.shape[0]} grid is not {nrow} columns of "
                         f"{image_size}-px images with {padding}-px padding")
    at = [padding + i * step for i in range(max(int(rows), nrow))]
    cells = [grid[at[r]:at[r] + image_size, at[c]:at[c] + image_size] for r in range(int(rows)) for c in range(nrow)]
    images = torch.from_numpy(np.stack(cells)).permute(0, 3, 1, 2)[:, :channels]
    return images.mul(2).sub(1)


def image_grid_array(images: torch.Tensor, nrow: int = GRID_NROW) -> np.ndarray:
    """images in [-1, 1] -> (H, W, 3) float array for imshow."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().cpu().add(1).div(2).clamp(0, 1), nrow=nrow, padding=GRID_PADDING)
    return grid.permute(1, 2, 0).numpy()


@torch.no_grad()
def critic_surface(critic: torch.nn.Module, lim: float = 2.0, n: int = 101):
    """Critic values on an n x n grid over [-lim, lim]^2: (xs, ys, values)."""
    xs = torch.linspace(-lim, lim, n)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    device = next(critic.parameters()).device
    was_training = critic.training
    critic.eval()
    values = critic(pts.to(device)).cpu().view(n, n)
    critic.train(was_training)
    return gx.numpy(), gy.numpy(), values.numpy()


def draw_toy(ax, real: torch.Tensor, fake: torch.Tensor, critic=None, lim: float = 2.0, title: str = ""):
    """WGAN-GP Fig. 1 style: critic value contours, real points (orange), generated (green)."""
    if critic is not None:
        gx, gy, values = critic_surface(critic, lim)
        ax.contour(gx, gy, values, levels=15, cmap="viridis", linewidths=0.8)
    ax.scatter(real[:, 0], real[:, 1], s=3, c="tab:orange", alpha=0.5, label="real")
    ax.scatter(fake[:, 0].cpu(), fake[:, 1].cpu(), s=3, c="tab:green", alpha=0.6, label="generated")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def save_toy_figure(path: str | Path, real: torch.Tensor, fake: torch.Tensor, critic=None, title: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    draw_toy(ax, real, fake, critic, title=title)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def samples_over_time(runs: dict[str, list], columns: int = 4):
    """One row per (label, run): the run's fixed-noise sample figures over training (early to end),
    each panel titled with its generator iteration. runs: {label: [TrainResult, ...]} (e.g. two
    seeds of each variant). Returns the pyplot figure (drawn inline in a notebook; no backend change)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from .rundir import sample_figures

    rows = [(label, r) for label, rs in runs.items() for r in rs]
    figs = [sample_figures(r.out_dir)[-columns:] for _, r in rows]
    ncol = max(len(f) for f in figs) if figs else 1
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.3 * ncol, 2.5 * len(rows)), squeeze=False)
    for (label, r), row_figs, row_axes in zip(rows, figs, axes):
        for ax in row_axes:
            ax.axis("off")
        for ax, (iteration, path) in zip(row_axes, row_figs):
            with Image.open(path) as im:
                ax.imshow(np.asarray(im.convert("RGB")))
            ax.set_title(f"{label}, seed {r.cfg.seed}\niteration {iteration}", fontsize=8)
    fig.tight_layout()
    return fig
