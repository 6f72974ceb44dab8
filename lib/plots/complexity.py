"""Figure of the complexity stage: cost per step against the number of steps."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from lib.plots.figure import save


def cost_vs_steps(rows: dict, elbo_s: float, elbo_grad_s: float, path: Path) -> None:
    """Log-log wall time of the CNF likelihood and its gradient vs T; the ELBO as flat lines."""
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0), sharey=True)
    methods = list(dict.fromkeys(rows["method"]))
    for ax, key, flat, title in (
        (axes[0], "log_prob_s", elbo_s, "log-likelihood"),
        (axes[1], "gradient_s", elbo_grad_s, "log-likelihood + gradient"),
    ):
        for m in methods:
            idx = [i for i, r in enumerate(rows["method"]) if r == m]
            ax.loglog([rows["T"][i] for i in idx], [rows[key][i] for i in idx], "o-", ms=3, label=m)
        ax.axhline(flat, color="k", ls="--", lw=0.8, label="SDE ELBO (any T)")
        ax.set_xlabel("T (solver steps)")
        ax.set_title(title)
    axes[0].set_ylabel("seconds per batch")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)
