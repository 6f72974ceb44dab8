"""Figures of the 1D density fits (CNF and SDE): fitted densities, sample paths, integrator
convergence; each a third of the text width, three to a row."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from lib.plots.figure import THIRD, legend_below, save, short_title


def density_fit_1d(title: str, train: torch.Tensor, density, model_log_prob, path: Path) -> None:
    """Model density vs true density vs histogram of the training data; `title` names the model
    and the dataset (e.g. "CNF density, gaussian")."""
    lo, hi = train.min().item() - 2, train.max().item() + 2
    grid = torch.linspace(lo, hi, 600)[:, None]
    fig, ax = plt.subplots(figsize=(THIRD, 2.6))
    ax.hist(train[:, 0].numpy(), bins=80, density=True, alpha=0.35, label="train histogram")
    ax.plot(grid[:, 0], density.log_prob(grid).exp(), "k", lw=1.2, label="true density")
    with torch.no_grad():
        ax.plot(grid[:, 0], model_log_prob(grid).exp(), "C3", lw=1.2, ls="--", label="model")
    ax.set_title(short_title(title, THIRD))
    ax.set_xlabel("y")
    ax.set_ylabel("density")
    legend_below(fig, ncol=2)
    save(fig, path)


def sample_paths_1d(paths: torch.Tensor, title: str, path: Path) -> None:
    """Trajectories (n_t, n, 1) from t = 0 (base) to t = 1 (data), one colour: one meaning."""
    t = np.linspace(0, 1, paths.shape[0])
    fig, ax = plt.subplots(figsize=(THIRD, 2.6))
    ax.plot(t, paths[..., 0].numpy(), color="C0", lw=0.6, alpha=0.6)
    ax.set_xlabel("time t (0: base, 1: data)")
    ax.set_ylabel("$x_t$")
    ax.set_title(short_title(title, THIRD))
    save(fig, path)


def integrator_convergence(conv: dict, name: str, path: Path) -> None:
    """|mean log-likelihood(T) - tight reference| vs T for each integrator (log-log)."""
    fig, ax = plt.subplots(figsize=(THIRD, 2.6))
    for method, errors in conv["errors"].items():
        ax.loglog(conv["n_steps"], np.maximum(errors, 1e-16), "o-", ms=3, label=method)
    ax.set_xticks(conv["n_steps"], [str(n) for n in conv["n_steps"]])
    ax.minorticks_off()
    ax.set_xlabel("T (solver steps)")
    ax.set_ylabel("|LL(T) - LL(tight)| (nats)")
    ax.set_title(short_title(f"CNF integrators, {name}", THIRD))
    legend_below(fig)
    save(fig, path)
