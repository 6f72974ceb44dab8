"""Sample grids of integer images: one mosaic per entry, side by side, as a pixel-exact PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.images.classifier import to_model_scale
from lib.plots.figure import FULL, save_pixels, tile, to_ink

IMAGE_IN = 0.2  # printed width of one image (in)
PANEL_GAP = 4  # pixels between the mosaics


def grids(
    panels: dict[str, np.ndarray], n_levels: int, path: Path, grid_cols: int = 8, n_cols: int = 4
) -> None:
    """One mosaic per entry (integer images (n, C, H, W), the same n), n_cols mosaics per row;
    titles go in the caption, in order."""
    counts = {len(v) for v in panels.values()}
    if len(counts) != 1:
        raise ValueError(f"every panel needs the same number of images, got {sorted(counts)}")
    mosaics = np.stack(
        [
            tile(to_ink((to_model_scale(np.asarray(v), n_levels).numpy() + 1) / 2), grid_cols)
            for v in panels.values()
        ]
    )
    n_cols = min(n_cols, len(panels))
    width = min(FULL, IMAGE_IN * n_cols * min(grid_cols, counts.pop()))
    save_pixels(tile(mosaics, n_cols, gap=PANEL_GAP), path, width)
