"""Figure pieces shared by the 2D studies (flow2d, transport): trajectories from start to end on
shared square limits, a metric against function evaluations."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from lib.plots.figure import (
    THIRD,
    legend_below,
    outer_labels,
    save,
    scatter,
    square_axes,
    square_box,
)

START, END, LINE = {"color": "grey"}, {"color": "C3"}, {"color": "C0", "lw": 0.4, "alpha": 0.5}


def trajectories_2d(
    panels: dict[str, np.ndarray], path: Path, n_lines: int = 150, n_cols: int | None = None
) -> None:
    """One panel per title: trajectories (n_steps + 1, n, 2) from start (grey) to end (red), on
    the same square limits around every drawn point; at most three panels per row."""
    n = len(panels)
    n_cols = n_cols or (2 if n == 4 else min(n, 3))
    n_rows = -(-n // n_cols)
    box = square_box(
        [p[:, :n_lines] for p in panels.values()] + [p[[0, -1]] for p in panels.values()]
    )
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(THIRD * n_cols, (THIRD * n_cols - 0.45) / n_cols * n_rows + 0.45 * n_rows + 0.65),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for ax, (title, p) in zip(axes.flat, panels.items()):
        ax.plot(p[:, :n_lines, 0], p[:, :n_lines, 1], rasterized=True, **LINE)
        scatter(ax, p[0], s=1, **START)
        scatter(ax, p[-1], s=1, **END)
        square_axes(ax, box)
        ax.set_title(title)
    outer_labels(axes, n)
    legend_below(
        fig,
        [
            Line2D([], [], **LINE),
            Line2D([], [], ls="", marker="o", ms=3, **START),
            Line2D([], [], ls="", marker="o", ms=3, **END),
        ],
        ["trajectory", "start (t = 0)", "end (t = 1)"],
    )
    save(fig, path)


def metric_vs_nfe(
    curves: dict[str, tuple[list[int], list[float]]], floor: float, ylabel: str, path: Path
) -> None:
    """Log-log metric vs number of function evaluations per sampler, with the data's floor."""
    fig, ax = plt.subplots(figsize=(THIRD, 2.9))
    for name, (nfe, values) in curves.items():
        ax.loglog(nfe, np.maximum(values, 1e-7), "o-", ms=3, label=name)
    ax.axhline(floor, color="grey", ls="--", lw=1, label="held-out vs test")
    ax.set_xlabel("function evaluations (NFE)")
    ax.set_ylabel(ylabel)
    legend_below(fig, ncol=2)
    save(fig, path)
