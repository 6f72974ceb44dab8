"""Figures of the data stage: the 1D/2D datasets and the image classes."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lib.plots.figure import (
    FULL,
    legend_below,
    save,
    save_pixels,
    scatter,
    square_axes,
    square_box,
    tile,
    to_ink,
)

N_SCATTER = 2000  # train points drawn per 2D dataset


def density_1d(samples: np.ndarray, grid: np.ndarray, density: np.ndarray, title: str, ax) -> None:
    ax.hist(samples, bins=80, density=True, alpha=0.5, label="train histogram")
    ax.plot(grid, density, "k", lw=1, label="true density")
    ax.set_title(title)
    ax.set_xlabel("y")
    ax.set_ylabel("density")


def datasets_overview(one_d: dict, two_d: dict, path: Path) -> None:
    """1D: histogram of the train split with the true density; 2D: scatter of train points, each
    on its own square limits around all its drawn points. Three panels per row."""
    n = len(one_d) + len(two_d)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(FULL, 2.05 * rows + 0.3), squeeze=False)
    flat = axes.ravel()
    for ax, (name, (train, grid, density)) in zip(flat, one_d.items()):
        density_1d(train[:, 0], grid, density, f"{name} (1D)", ax)
    for ax, (name, train) in zip(flat[len(one_d) :], two_d.items()):
        pts = train[:N_SCATTER]
        scatter(ax, pts, s=1, alpha=0.5, color="C0")
        square_axes(ax, square_box([pts]))
        ax.set_title(f"{name} (2D)")
    for ax in flat[n:]:
        ax.axis("off")
    if one_d:
        legend_below(fig)
    save(fig, path)


def image_grid(
    images: np.ndarray,
    labels: np.ndarray,
    n_levels: int,
    path: Path,
    n_per_class: int = 8,
    width: float = 2.4,
) -> None:
    """n_per_class examples of each class, one row per class in increasing label order, as a
    pixel-exact PNG `width` inches wide (levels 0..n_levels - 1, drawn dark on white)."""
    classes = np.unique(labels)
    cells = np.full((len(classes) * n_per_class, *images.shape[2:], images.shape[1]), 1.0)
    for row, c in enumerate(classes):
        picks = images[labels == c][:n_per_class]
        if len(picks) < n_per_class:
            raise ValueError(f"class {c} has {len(picks)} images, fewer than {n_per_class}")
        cells[row * n_per_class : (row + 1) * n_per_class] = to_ink(picks / (n_levels - 1))
    save_pixels(tile(cells, n_per_class), path, width)
