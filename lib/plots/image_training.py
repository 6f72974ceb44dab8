"""Figure of the image training stages: an image corrupted along the path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.plots.figure import HALF, save_pixels, tile, to_ink


def image_corruption(rows: np.ndarray, times: list[float], path: Path, width: float = HALF) -> None:
    """rows (n_images, n_times, C, H, W) in the model's scale [-1, 1]: one image per row, its
    corrupted versions x_t at `times` along the columns (named in the caption), as a pixel-exact
    PNG `width` inches wide; values outside [-1, 1] are clipped."""
    n, m = rows.shape[:2]
    if m != len(times):
        raise ValueError(f"{m} columns of images for {len(times)} times {times}")
    cells = to_ink((rows.reshape(n * m, *rows.shape[2:]) + 1) / 2)
    save_pixels(tile(cells, m), path, width)
