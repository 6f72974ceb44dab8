"""Figure of the image training stages: an image corrupted along the path."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lib.plots.figure import save


def image_corruption(rows: np.ndarray, times: list[float], path: Path) -> None:
    """rows (n_images, n_times, C, H, W) in the model's scale [-1, 1]: one image per row, its
    corrupted versions x_t along the columns."""
    n, m = rows.shape[:2]
    fig, axes = plt.subplots(n, m, figsize=(0.9 * m, 0.9 * n), squeeze=False)
    for i in range(n):
        for j in range(m):
            img = np.clip((rows[i, j].transpose(1, 2, 0) + 1) / 2, 0, 1)
            ax = axes[i, j]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {times[j]:g}")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    save(fig, path)
