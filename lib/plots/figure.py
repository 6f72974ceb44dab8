"""What every figure shares: the house style, printed widths, legends outside the data, square
limits for point clouds, pixel-exact image grids and a deterministic, atomic save.

The report includes every figure at its natural size, so a figure's size is its printed size:
plots are made FULL, HALF or THIRD of the 6.5 in text width wide, with text of at least 8 pt.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from lib.infra.io import atomic_path
from lib.infra.phases import phase

FULL = 6.5  # printed text width (in): A4 with 2.2 cm margins
HALF = 3.15  # two side by side, with a gap
THIRD = 2.1  # three side by side, with gaps
MIN_FONT_PT = 8
DPI = 300  # rasterized point clouds in PDFs, and the target resolution of image grids
RASTERIZE_FROM = 1000  # point clouds with at least this many points are drawn as pixels

plt.rcParams.update(
    {
        "font.size": 8,
        "axes.titlesize": 9,
        "axes.labelsize": 8,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
        "legend.title_fontsize": 8,
        "figure.titlesize": 9,
        "figure.constrained_layout.use": True,  # the saved page is exactly figsize
        "lines.linewidth": 1.0,
        "savefig.dpi": DPI,
        "pdf.fonttype": 42,  # embedded TrueType: text stays text
        "axes.formatter.use_mathtext": True,
    }
)


def save(fig, path: str | Path) -> None:
    """Save as PDF or PNG by the suffix, at the figure's own size, without a timestamp (the same
    figure gives the same bytes), atomically; the figure is closed."""
    fmt = Path(path).suffix.lower().lstrip(".")
    metadata = {"pdf": {"CreationDate": None}, "png": {"Software": None}}
    if fmt not in metadata:
        raise ValueError(f"figure {path}: suffix {fmt!r} not supported, use .pdf or .png")
    with phase("figures"), atomic_path(path) as tmp:  # matplotlib draws when it saves
        fig.savefig(tmp, format=fmt, metadata=metadata[fmt])
    plt.close(fig)


def legend_below(fig, handles=None, labels=None, ncol: int = 3) -> None:
    """One legend for the whole figure, under its axes (never over the data): up to ncol
    columns, fewer where the legend would be wider than the figure."""
    if handles is None:
        handles, labels = _handles(fig)
    renderer = fig.canvas.get_renderer()
    for n in range(min(ncol, len(handles)), 0, -1):
        legend = fig.legend(handles, labels, loc="outside lower center", ncol=n)
        if n == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width:
            return
        legend.remove()


def short_title(title: str, width: float) -> str:
    """`title`, its first ", " made a line break when it would not fit in `width` inches."""
    fits = len(title) * 0.55 * plt.rcParams["axes.titlesize"] / 72 <= width - 0.2
    return title if fits else title.replace(", ", "\n", 1)


def _handles(fig) -> tuple[list, list[str]]:
    """Each labelled artist of the figure's axes once, by label, in drawing order."""
    seen: dict[str, object] = {}
    for ax in fig.axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    return list(seen.values()), list(seen)


def square_box(points: list[np.ndarray], margin: float = 0.05) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the smallest square around every (n, 2) array of points, widened by
    `margin` of its side on each edge, so that equal-aspect axes show all of them."""
    xy = np.concatenate([np.asarray(p, dtype=float).reshape(-1, 2) for p in points])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * (1 + 2 * margin)
    return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half


def square_axes(ax, box: tuple[float, float, float, float]) -> None:
    """Limits `box` (from square_box), equal aspect, axes labelled x_1 and x_2."""
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")


def outer_labels(axes: np.ndarray, n: int) -> None:
    """Small multiples on shared axes: tick and axis labels only on the outer edge of the first
    n panels of the (rows, cols) grid (a panel with no panel below keeps its x labels); the
    panels after n are switched off."""
    n_cols = axes.shape[1]
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        q = k % n_cols
        inner_x, inner_y = k + n_cols < n, q > 0
        ax.tick_params(labelbottom=not inner_x, labelleft=not inner_y)
        if inner_x:
            ax.set_xlabel("")
        if inner_y:
            ax.set_ylabel("")


def scatter(ax, xy: np.ndarray, **kwargs):
    """Points (n, 2), rasterized when there are many (the PDF stays small)."""
    return ax.scatter(xy[:, 0], xy[:, 1], rasterized=len(xy) >= RASTERIZE_FROM, **kwargs)


def to_ink(images: np.ndarray) -> np.ndarray:
    """(n, C, H, W) in [0, 1] -> (n, H, W, C) display values in [0, 1]: one channel drawn dark on
    white (1 - x), colour as is."""
    images = np.clip(np.asarray(images, dtype=float), 0, 1).transpose(0, 2, 3, 1)
    return 1 - images if images.shape[-1] == 1 else images


def tile(cells: np.ndarray, n_cols: int, gap: int = 1, fill: float = 1.0) -> np.ndarray:
    """(n, H, W, C) -> (rows (H + gap) - gap, n_cols (W + gap) - gap, C): the cells row by row,
    `gap` pixels of `fill` (white) between them; an incomplete last row is left as fill."""
    n, h, w, c = cells.shape
    n_rows = -(-n // n_cols)
    out = np.full((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap, c), fill, dtype=float)
    for k, cell in enumerate(cells):
        r, q = divmod(k, n_cols)
        out[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = cell
    return out


def save_pixels(pixels: np.ndarray, path: str | Path, width: float) -> int:
    """Write (h, w, C) display values in [0, 1] as a PNG `width` inches wide when printed: each
    pixel becomes a k x k block (k chosen for at least DPI dots per inch), no interpolation, and
    the PNG's resolution is set so that its natural size is `width`. Returns k."""
    h, w, c = pixels.shape
    k = max(1, int(np.ceil(DPI * width / w)))
    big = np.repeat(np.repeat(pixels, k, axis=0), k, axis=1)
    grey8 = np.round(255 * np.clip(big, 0, 1)).astype(np.uint8)
    image = Image.fromarray(grey8[..., 0] if c == 1 else grey8)  # L or RGB
    dpi = w * k / width
    with phase("figures"), atomic_path(path) as tmp:
        image.save(tmp, format="png", dpi=(dpi, dpi))
    return k
