"""Figures of the ddls stage: KID against the number of latent Langevin steps per step size (the
reference text's curve, with intervals), and the energy and discriminator logit along the chains."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lib.plots.figure import FULL, legend_below, save

KID_UNIT = 1e3


def _label(entry: dict) -> str:
    kind = "MALA" if entry["mala"] else "ULA"
    return f"{kind}, $\\epsilon_0 = {entry['step_size']:g}$"


def kid_vs_steps(curves: dict, real: dict, path: Path, level: float) -> None:
    """KID x 10^3 with its interval against the Langevin steps k (symmetric-log x: k = 0 is the
    plain generator), one line per chain family; the real-vs-real interval as a band."""
    fig, ax = plt.subplots(figsize=(FULL, 3.0))
    ax.axhspan(
        KID_UNIT * real["kid"]["ci_low"], KID_UNIT * real["kid"]["ci_high"], color="0.85",
        label=f"real vs real ({100 * level:g}%)",
    )  # fmt: skip
    for entry in curves.values():
        rows = entry["by_k"]
        k = np.array([r["k"] for r in rows])
        v = KID_UNIT * np.array([r["kid"]["value"] for r in rows])
        lo = KID_UNIT * np.array([r["kid"]["ci_low"] for r in rows])
        hi = KID_UNIT * np.array([r["kid"]["ci_high"] for r in rows])
        ax.errorbar(k, v, yerr=[v - lo, hi - v], marker="o", ms=3, capsize=2,
                    ls="--" if entry["mala"] else "-", label=_label(entry))  # fmt: skip
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("Langevin steps $k$ (0: the generator alone)")
    ax.set_ylabel(r"KID $\times 10^3$ (lower is better)")
    legend_below(fig, ncol=3)
    save(fig, path)


def chains(curves: dict, path: Path) -> None:
    """Left: the mean energy E(z_k) = |z_k|^2 / 2 - d(G(z_k)) over chains; right: the mean logit
    d(G(z_k)); against the step k, one line per chain family."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(FULL, 2.6))
    for entry in curves.values():
        steps = np.arange(len(entry["energy"]))
        style = "--" if entry["mala"] else "-"
        ax.plot(steps, entry["energy"], ls=style, label=_label(entry))
        ax2.plot(steps, entry["logit"], ls=style)
    ax.set_xlabel("step $k$")
    ax.set_ylabel("mean energy $E(z_k)$")
    ax2.set_xlabel("step $k$")
    ax2.set_ylabel(r"mean logit $d(G(z_k))$")
    legend_below(fig, ncol=4)
    save(fig, path)
