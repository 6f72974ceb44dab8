"""Figures of the SDE primer: solver orders, Brownian and OU paths, Langevin convergence."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lib.plots.figure import FULL, HALF, legend_below, save

PATH_STYLE = {"color": "C0", "lw": 0.6, "alpha": 0.7}
BAND_STYLE = {"color": "grey", "alpha": 0.2, "lw": 0}


def solver_orders(runs, path: Path) -> None:
    """Log-log global error vs number of steps, with the observed order in the legend."""
    fig, ax = plt.subplots(figsize=(HALF, 2.8))
    for r in runs:
        ax.loglog(r.n_steps, r.errors, "o-", ms=3, label=f"{r.method} (order {r.order:.2f})")
    ax.set_xticks(runs[0].n_steps, [str(n) for n in runs[0].n_steps])
    ax.minorticks_off()
    ax.set_xlabel("number of steps")
    ax.set_ylabel(r"global error $|x_T - x(T)|$")
    legend_below(fig, ncol=2)
    save(fig, path)


def brownian_paths(runs, path: Path) -> None:
    """One panel per sigma: the drawn paths and the +-2 sd band sigma sqrt(t)."""
    fig, axes = plt.subplots(1, len(runs), figsize=(FULL, 2.3), sharey=True, squeeze=False)
    for ax, r in zip(axes[0], runs):
        t = r.t.numpy()
        ax.plot(t, r.paths.numpy(), **PATH_STYLE)
        band = 2 * np.sqrt(r.var_theory.numpy())
        ax.fill_between(t, -band, band, **BAND_STYLE)
        ax.set_title(rf"$\sigma = {r.label:g}$")
        ax.set_xlabel("time $t$")
    axes[0, 0].set_ylabel("$X_t$")
    legend_below(
        fig,
        [Line2D([], [], **PATH_STYLE), Patch(**BAND_STYLE)],
        ["sample paths", r"$\pm 2\sigma\sqrt{t}$ (2 sd of $X_t$)"],
    )
    save(fig, path)


def ou_paths(runs, stationary_variance: float, path: Path) -> None:
    """Top: paths from every start per theta; bottom: final values vs the stationary N(0, D)."""
    fig, axes = plt.subplots(2, len(runs), figsize=(FULL, 4.4), squeeze=False)
    sd = np.sqrt(stationary_variance)
    grid = np.linspace(-4 * sd, 4 * sd, 200)
    density = np.exp(-(grid**2) / (2 * stationary_variance)) / np.sqrt(
        2 * np.pi * stationary_variance
    )
    for k, r in enumerate(runs):
        ax = axes[0, k]
        t = r.t.numpy()
        ax.plot(t, r.paths.numpy(), **PATH_STYLE)
        ax.fill_between(t, -2 * sd, 2 * sd, **BAND_STYLE)
        sigma = np.sqrt(2 * r.label * stationary_variance)
        ax.set_title(rf"$\theta = {r.label:g},\ \sigma = {sigma:.3g}$")
        ax.set_xlabel("time $t$")
        ax.set_ylabel("$X_t$")
        ax = axes[1, k]
        ax.hist(r.final.numpy(), bins=60, density=True, color="C1", alpha=0.5)
        ax.plot(grid, density, "k", lw=1)
        ax.set_xlabel("$X_T$ - exact mean")
        ax.set_ylabel("density")
    legend_below(
        fig,
        [
            Line2D([], [], **PATH_STYLE),
            Patch(**BAND_STYLE),
            Patch(color="C1", alpha=0.5),
            Line2D([], [], color="k", lw=1),
        ],
        [
            "sample paths",
            r"$\pm 2$ sd of $N(0, \sigma^2/2\theta)$",
            "simulated $X_T$ - mean",
            r"$N(0, \sigma^2/2\theta)$",
        ],
        ncol=2,
    )
    save(fig, path)


def langevin_convergence(run, path: Path) -> None:
    """Top: particle histograms at a few snapshot times against the target density (shared
    axes, small multiples); bottom: KS distance to the target against time."""
    picks = np.unique(np.linspace(0, len(run.t) - 1, 4).round().astype(int))
    fig = plt.figure(figsize=(FULL, 4.4))
    grid_spec = fig.add_gridspec(2, len(picks), height_ratios=[1, 1.1])
    first = fig.add_subplot(grid_spec[0, 0])
    axes = [first] + [
        fig.add_subplot(grid_spec[0, j], sharex=first, sharey=first) for j in range(1, len(picks))
    ]
    snaps = run.snapshots.numpy()
    lo, hi = np.quantile(snaps[-1], [0.001, 0.999])
    grid = torch.linspace(lo - 1, hi + 1, 400)[:, None]
    density = run.target.log_prob(grid).exp().numpy()
    top = 1.6 * density.max()  # the t = 0 point mass would dwarf the target: marked, not drawn
    for ax, k in zip(axes, picks):
        heights, _, _ = ax.hist(
            snaps[k], bins=80, range=(lo - 1, hi + 1), density=True, color="C0", alpha=0.5
        )
        ax.plot(grid[:, 0].numpy(), density, "k", lw=1)
        if heights.max() > top:
            ax.annotate(
                f"peak {heights.max():.3g}\n(off scale)",
                (0.97, 0.95),
                xycoords="axes fraction",
                ha="right",
                va="top",
            )
        ax.set_title(f"t = {run.t[k].item():.3g}")
        ax.set_xlabel("x")
        ax.tick_params(labelleft=ax is first)
    first.set_ylim(0, top)
    first.set_ylabel("density")
    ax = fig.add_subplot(grid_spec[1, :])
    ax.semilogy(run.t.numpy(), run.ks.numpy(), "C3", label="KS distance of the particles")
    ax.axhline(run.ks_floor, color="k", ls="--", lw=0.8, label="exact samples: mean KS")
    lo_ks, hi_ks = np.quantile(run.ks_floor_draws.numpy(), [0.025, 0.975])
    ax.axhspan(lo_ks, hi_ks, color="0.8", lw=0, label="exact samples: central 95%")
    ax.set_xlabel("time $t$")
    ax.set_ylabel("KS distance to target")
    handles, labels = ax.get_legend_handles_labels()
    legend_below(
        fig,
        [Patch(color="C0", alpha=0.5), Line2D([], [], color="k", lw=1), *handles],
        ["particles (histogram)", "target density", *labels],
        ncol=2,
    )
    save(fig, path)
