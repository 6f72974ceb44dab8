"""Figures of the 2D flow-matching and score study (flow2d): corruption, true vs generated paths,
a metric against sigma, samples, loss curves; trajectories and metric vs NFE are in `panels_2d`."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lib.plots.figure import save
from lib.plots.panels_2d import square_axes


def corruption_2d(rows: dict[str, list[np.ndarray]], times: list[float], path: Path) -> None:
    """One row per schedule, one column per time: 2D histograms of the same corrupted points."""
    lim = max(float(np.abs(x).max()) for xs in rows.values() for x in xs)
    fig, axes = plt.subplots(
        len(rows), len(times), figsize=(1.9 * len(times), 1.9 * len(rows)), squeeze=False
    )
    for r, (name, xs) in enumerate(rows.items()):
        for c, (t, x) in enumerate(zip(times, xs)):
            ax = axes[r, c]
            ax.hist2d(x[:, 0], x[:, 1], bins=50, range=[[-lim, lim], [-lim, lim]], cmap="Blues")
            square_axes(ax, lim)
            if r == 0:
                ax.set_title(f"t = {t:g}")
        axes[r, 0].set_ylabel(name)
    save(fig, path)


def path_vs_generated(
    true_x: list[np.ndarray], generated: list[np.ndarray], times: list[float], path: Path
) -> None:
    """Top: points on the true conditional path at each time; bottom: the ODE's states then."""
    lim = max(float(np.abs(x).max()) for x in [*true_x, *generated])
    fig, axes = plt.subplots(2, len(times), figsize=(1.9 * len(times), 3.9), squeeze=False)
    for c, t in enumerate(times):
        for r, x in enumerate((true_x[c], generated[c])):
            ax = axes[r, c]
            ax.scatter(x[:, 0], x[:, 1], s=2, color="C0" if r == 0 else "C3")
            square_axes(ax, lim)
        axes[0, c].set_title(f"t = {t:g}")
    axes[0, 0].set_ylabel("true path")
    axes[1, 0].set_ylabel("generated")
    save(fig, path)


def metric_vs_sigma(
    sigmas: list[float], values: list[float], floor: float, ylabel: str, path: Path
) -> None:
    """Metric of SDE samples vs the diffusion sigma (sigma = 0: the ODE), with the floor."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    ax.plot(sigmas, values, "o-", ms=3, label="generated vs test")
    ax.axhline(floor, color="grey", ls="--", lw=1, label="held-out vs test")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\sigma$")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    save(fig, path)


def samples_2d(panels: dict[str, np.ndarray], path: Path) -> None:
    """One scatter per title (e.g. samples at several sigma), on shared axes."""
    lim = max(float(np.abs(p).max()) for p in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 2.4), squeeze=False)
    for ax, (title, p) in zip(axes[0], panels.items()):
        ax.scatter(p[:, 0], p[:, 1], s=1, color="C0")
        square_axes(ax, lim)
        ax.set_title(title)
    save(fig, path)


def loss_curves(curves: dict[str, list[float]], path: Path, smooth: int = 50) -> None:
    """Training loss per model (moving average over `smooth` iterations), log scale."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    for name, loss in curves.items():
        v = np.asarray(loss, dtype=float)
        k = min(smooth, len(v))
        avg = np.convolve(v, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(v) + 1), avg, lw=1, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"loss (mean of {smooth})")
    ax.legend(fontsize=7)
    save(fig, path)
