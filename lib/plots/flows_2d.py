"""Figures of the 2D flow-matching and score study (flow2d): corruption, true vs generated paths,
a metric against sigma, samples, loss curves; trajectories and metric vs NFE are in `panels_2d`.
Point clouds that are compared share one square box around every point drawn in the figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from lib.plots.figure import (
    FULL,
    THIRD,
    legend_below,
    outer_labels,
    save,
    scatter,
    square_axes,
    square_box,
)

MAX_COLS = 5  # small multiples on shared axes; plots with their own axes stop at three
MIN_PANEL = 1.2  # printed width of a small multiple (in)


def _grid(n_rows: int, n_cols: int):
    """Square small multiples on shared axes, FULL wide, laid out by hand so that five columns
    stay MIN_PANEL wide: thin gaps, a two-line title above each panel, tick labels (inside the
    outermost ticks, so neighbours never collide) on the outer edge only."""
    left, right, gap, top, bottom, row_gap = 0.4, 0.01, 0.02, 0.4, 0.36, 0.42
    side = (FULL - left - right - (n_cols - 1) * gap) / n_cols
    if side < MIN_PANEL:
        raise ValueError(
            f"{n_cols} panels in a row (e.g. flow2d.corruption.times): at most {MAX_COLS}"
        )
    height = top + n_rows * side + (n_rows - 1) * row_gap + bottom
    fig = plt.figure(figsize=(FULL, height), layout="none")
    axes = fig.subplots(
        n_rows,
        n_cols,
        sharex=True,
        sharey=True,
        squeeze=False,
        gridspec_kw={
            "left": left / FULL,
            "right": 1 - right / FULL,
            "top": 1 - top / height,
            "bottom": bottom / height,
            "wspace": gap / side,
            "hspace": row_gap / side,
        },
    )
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(4, prune="both"))
    axes[0, 0].yaxis.set_major_locator(MaxNLocator(4, prune="both"))
    for ax in axes[:, 0]:
        ax.yaxis.labelpad = 1
    return fig, axes


def corruption_2d(rows: dict[str, list[np.ndarray]], times: list[float], path: Path) -> None:
    """One row per schedule, one column per time: 2D histograms of the same corrupted points."""
    box = square_box([x for xs in rows.values() for x in xs])
    fig, axes = _grid(len(rows), len(times))
    for r, (name, xs) in enumerate(rows.items()):
        for c, (t, x) in enumerate(zip(times, xs)):
            ax = axes[r, c]
            ax.hist2d(
                x[:, 0], x[:, 1], bins=50, range=[box[:2], box[2:]], cmap="Blues", rasterized=True
            )
            square_axes(ax, box)
            ax.set_title(f"{name}\nt = {t:g}")
    outer_labels(axes, axes.size)
    save(fig, path)


def path_vs_generated(
    true_x: list[np.ndarray], generated: list[np.ndarray], times: list[float], path: Path
) -> None:
    """Top: points on the true conditional path at each time; bottom: the ODE's states then."""
    box = square_box([*true_x, *generated])
    fig, axes = _grid(2, len(times))
    for c, t in enumerate(times):
        for r, x in enumerate((true_x[c], generated[c])):
            ax = axes[r, c]
            scatter(ax, x, s=2, color="C0" if r == 0 else "C3")
            square_axes(ax, box)
            ax.set_title(f"{('true path', 'generated')[r]}\nt = {t:g}")
    outer_labels(axes, axes.size)
    save(fig, path)


def metric_vs_sigma(
    sigmas: list[float], values: list[float], floor: float, ylabel: str, path: Path
) -> None:
    """Metric of SDE samples vs the diffusion sigma (sigma = 0: the ODE), with the floor."""
    fig, ax = plt.subplots(figsize=(THIRD, 2.9))
    ax.plot(sigmas, values, "o-", ms=3, label="generated vs test")
    ax.axhline(floor, color="grey", ls="--", lw=1, label="held-out vs test")
    ax.set_yscale("log")
    ax.set_xlabel(r"diffusion $\sigma$ (0: the ODE)")
    ax.set_ylabel(ylabel)
    legend_below(fig, ncol=1)
    save(fig, path)


def samples_2d(panels: dict[str, np.ndarray], path: Path) -> None:
    """One scatter per title (e.g. samples at several sigma), on one shared square box; up to
    five panels per row (small multiples), wrapped beyond."""
    n = len(panels)
    n_cols = min(n, MAX_COLS)
    box = square_box(list(panels.values()))
    fig, axes = _grid(-(-n // n_cols), n_cols)
    for ax, (title, p) in zip(axes.flat, panels.items()):
        scatter(ax, p, s=1, color="C0")
        square_axes(ax, box)
        ax.set_title(title)
    outer_labels(axes, n)
    save(fig, path)


def loss_curves(curves: dict[str, list[float]], path: Path, smooth: int = 50) -> None:
    """Training loss per model (moving average over `smooth` iterations), log scale."""
    fig, ax = plt.subplots(figsize=(THIRD, 2.9))
    for name, loss in curves.items():
        v = np.asarray(loss, dtype=float)
        k = min(smooth, len(v))
        avg = np.convolve(v, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(v) + 1), avg, lw=1, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("training iteration")
    ax.set_ylabel(f"loss (moving mean of {smooth})")
    legend_below(fig, ncol=1)
    save(fig, path)
