"""Figures of the SDE primer: solver orders, Brownian and OU paths, Langevin convergence."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from lib.plots.figure import save


def solver_orders(runs, path: Path) -> None:
    """Log-log global error vs number of steps, with the observed order in the legend."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    for r in runs:
        ax.loglog(r.n_steps, r.errors, "o-", ms=3, label=f"{r.method} (order {r.order:.2f})")
    ax.set_xticks(runs[0].n_steps, [str(n) for n in runs[0].n_steps])
    ax.minorticks_off()
    ax.set_xlabel("number of steps")
    ax.set_ylabel(r"$|x_T - x(T)|$")
    ax.legend(fontsize=7)
    save(fig, path)


def brownian_paths(runs, path: Path) -> None:
    """One panel per sigma: the drawn paths and the +-2 sd band sigma sqrt(t)."""
    fig, axes = plt.subplots(
        1, len(runs), figsize=(3.2 * len(runs), 2.6), sharey=True, squeeze=False
    )
    for ax, r in zip(axes[0], runs):
        t = r.t.numpy()
        ax.plot(t, r.paths.numpy(), lw=0.8)
        band = 2 * np.sqrt(r.var_theory.numpy())
        ax.fill_between(t, -band, band, color="grey", alpha=0.15, label=r"$\pm 2\sigma\sqrt{t}$")
        ax.set_title(rf"$\sigma = {r.label:g}$")
        ax.set_xlabel("t")
    axes[0, 0].set_ylabel("$X_t$")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    save(fig, path)


def ou_paths(runs, stationary_variance: float, path: Path) -> None:
    """Top: paths from every start per theta; bottom: final values vs the stationary N(0, D)."""
    fig, axes = plt.subplots(2, len(runs), figsize=(3.2 * len(runs), 4.8), squeeze=False)
    sd = np.sqrt(stationary_variance)
    grid = np.linspace(-4 * sd, 4 * sd, 200)
    density = np.exp(-(grid**2) / (2 * stationary_variance)) / np.sqrt(
        2 * np.pi * stationary_variance
    )
    for k, r in enumerate(runs):
        ax = axes[0, k]
        t = r.t.numpy()
        ax.plot(t, r.paths.numpy(), lw=0.6)
        ax.fill_between(t, -2 * sd, 2 * sd, color="grey", alpha=0.15)
        sigma = np.sqrt(2 * r.label * stationary_variance)
        ax.set_title(rf"$\theta = {r.label:g},\ \sigma = {sigma:.3g}$")
        ax.set_xlabel("t")
        ax = axes[1, k]
        ax.hist(r.final.numpy(), bins=60, density=True, alpha=0.5, label="simulated $X_T$ - mean")
        ax.plot(grid, density, "k", lw=1, label=r"$N(0, \sigma^2/2\theta)$")
        ax.set_xlabel("x")
    axes[0, 0].set_ylabel("$X_t$")
    axes[1, 0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def langevin_convergence(run, path: Path) -> None:
    """Particle histograms at a few snapshot times against the target density, and KS vs t."""
    picks = np.unique(np.linspace(0, len(run.t) - 1, 4).round().astype(int))
    fig, axes = plt.subplots(1, len(picks) + 1, figsize=(3.0 * (len(picks) + 1), 2.6))
    snaps = run.snapshots.numpy()
    lo, hi = np.quantile(snaps[-1], [0.001, 0.999])
    grid = torch.linspace(lo - 1, hi + 1, 400)[:, None]
    density = run.target.log_prob(grid).exp().numpy()
    for ax, k in zip(axes, picks):
        ax.hist(snaps[k], bins=80, range=(lo - 1, hi + 1), density=True, alpha=0.5)
        ax.plot(grid[:, 0].numpy(), density, "k", lw=1)
        ax.set_ylim(0, 1.6 * density.max())  # the t = 0 point mass would dwarf the target
        ax.set_title(f"t = {run.t[k].item():.3g}")
        ax.set_xlabel("x")
    ax = axes[-1]
    ax.semilogy(run.t.numpy(), run.ks.numpy(), label="KS to target")
    ax.axhline(run.ks_floor, color="k", ls="--", lw=0.8, label="exact sample")
    ax.set_xlabel("t")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)
