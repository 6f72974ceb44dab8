"""Figures of the data stage: the 1D/2D datasets and the image classes."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lib.plots.figure import save


def density_1d(samples: np.ndarray, grid: np.ndarray, density: np.ndarray, title: str, ax) -> None:
    ax.hist(samples, bins=80, density=True, alpha=0.5, label="train")
    ax.plot(grid, density, "k", lw=1, label="true density")
    ax.set_title(title)


def datasets_overview(one_d: dict, two_d: dict, path: Path) -> None:
    """1D: histogram of the train split with the true density; 2D: scatter of train points."""
    n = len(one_d) + len(two_d)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.6 * rows), squeeze=False)
    flat = axes.ravel()
    for ax, (name, (train, grid, density)) in zip(flat, one_d.items()):
        density_1d(train[:, 0], grid, density, name, ax)
    for ax, (name, train) in zip(flat[len(one_d) :], two_d.items()):
        pts = train[:2000]
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5)
        ax.set_aspect("equal")
        ax.set_title(name)
    for ax in flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    save(fig, path)


def image_grid(
    images: np.ndarray, labels: np.ndarray, n_levels: int, path: Path, n_per_class: int = 8
) -> None:
    """n_per_class examples of each class, one row per class."""
    classes = np.unique(labels)
    fig, axes = plt.subplots(
        len(classes), n_per_class, figsize=(0.6 * n_per_class, 0.6 * len(classes)), squeeze=False
    )
    for row, c in zip(axes, classes):
        picks = images[labels == c][:n_per_class]
        for ax, img in zip(row, picks):
            img = img.transpose(1, 2, 0) / (n_levels - 1)
            ax.imshow(
                img[..., 0] if img.shape[-1] == 1 else img,
                cmap="gray_r" if img.shape[-1] == 1 else None,
            )
        for ax in row:
            ax.axis("off")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    save(fig, path)
