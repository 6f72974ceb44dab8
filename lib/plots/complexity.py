"""Figure of the complexity stage: cost per step against the number of steps."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lib.plots.figure import FULL, legend_below, save


def cost_vs_steps(rows: dict, elbo_s: float, elbo_grad_s: float, path: Path) -> None:
    """Log-log wall time of the CNF likelihood and its gradient vs T; the ELBO as flat lines."""
    fig, axes = plt.subplots(1, 2, figsize=(FULL, 2.8), sharey=True)
    methods = list(dict.fromkeys(rows["method"]))
    for ax, key, flat, title in (
        (axes[0], "log_prob_s", elbo_s, "CNF log-likelihood"),
        (axes[1], "gradient_s", elbo_grad_s, "CNF log-likelihood + gradient"),
    ):
        for m in methods:
            idx = [i for i, r in enumerate(rows["method"]) if r == m]
            ax.loglog([rows["T"][i] for i in idx], [rows[key][i] for i in idx], "o-", ms=3, label=m)
        ax.axhline(flat, color="k", ls="--", lw=0.8, label="SDE ELBO, 1 draw per point (any T)")
        ax.set_xticks(sorted(set(rows["T"])), [f"{t:g}" for t in sorted(set(rows["T"]))])
        ax.minorticks_off()
        ax.set_xlabel("T (solver steps)")
        ax.set_title(title)
    axes[0].set_ylabel("wall time per batch (s)")
    legend_below(fig, ncol=len(methods) + 1)
    save(fig, path)
