"""Figure pieces shared by the 2D studies (flow2d, transport): square axes for point clouds,
trajectories from start to end, a metric against function evaluations."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lib.plots.figure import save


def square_axes(ax, lim: float) -> None:
    """[-lim, lim]^2 with equal aspect and no ticks."""
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def trajectories_2d(panels: dict[str, np.ndarray], path: Path, n_lines: int = 150) -> None:
    """One panel per title: trajectories (n_steps + 1, n, 2) from start (grey) to end (red)."""
    lim = max(float(np.abs(p).max()) for p in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 2.9), squeeze=False)
    for ax, (title, p) in zip(axes[0], panels.items()):
        ax.plot(p[:, :n_lines, 0], p[:, :n_lines, 1], lw=0.4, color="C0", alpha=0.5)
        ax.scatter(p[0, :, 0], p[0, :, 1], s=1, color="grey")
        ax.scatter(p[-1, :, 0], p[-1, :, 1], s=1, color="C3")
        square_axes(ax, lim)
        ax.set_title(title)
    save(fig, path)


def metric_vs_nfe(
    curves: dict[str, tuple[list[int], list[float]]], floor: float, ylabel: str, path: Path
) -> None:
    """Log-log metric vs number of function evaluations per sampler, with the data's floor."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    for name, (nfe, values) in curves.items():
        ax.loglog(nfe, np.maximum(values, 1e-7), "o-", ms=3, label=name)
    ax.axhline(floor, color="grey", ls="--", lw=1, label="held-out vs test")
    ax.set_xlabel("function evaluations")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    save(fig, path)
