"""Figures of the sample_score_sde stage: KID against score / velocity evaluations for every
sampler of the pipeline (the flow models' ODE and SDE samplers from the sample stage, the VE and
VP predictors, corrector and PC), and the sample grid of every cell."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lib.metrics.sample_reference import FlowReference
from lib.metrics.yardstick import Score
from lib.plots.figure import FULL, legend_below, save

KID_UNIT = 1e3  # KIDs are drawn x 10^3
MARKERS = {"p_n": "o", "p_2n": "o", "pc_n": "s", "c_2n": "X", "adaptive": "D"}
VARIANT_NAMES = {"p_n": "P (N, 2N)", "pc_n": "PC", "c_2n": "C only", "adaptive": "adaptive ODE"}
SHARED = ("corrector_only", "probability_flow_adaptive")  # one per SDE, drawn in black
SDE_STYLES = ("-", "--")  # VE, VP
SHIFT = (0.96, 1.04)  # VE left of VP at the same NFE
LINEAR = 5.0  # the y axis is linear within +-LINEAR (x 10^-3), logarithmic beyond
FLOW_MARKERS = {"euler": "v", "heun": "^", "rk4": "<", "sde": "*", "exact": "P"}


def _errorbar(ax, nfe, values, lows, highs, **kw):
    v = KID_UNIT * np.asarray(values)
    lo, hi = KID_UNIT * np.asarray(lows), KID_UNIT * np.asarray(highs)
    ax.errorbar(nfe, v, yerr=[v - lo, hi - v], capsize=2, ms=4, **kw)


def kid_vs_nfe(
    cells: dict, scores: dict[tuple[str, str, str], Score], flow: FlowReference,
    real: Score, path: Path, level: float,
) -> None:  # fmt: skip
    """KID (x 10^3, interval as error bars; symmetric-log y, linear within +-LINEAR) against NFE
    per image, log x: the flow models' runs in grey (marker per sampler); per VE / VP predictor
    (colour) the predictor alone at N and 2N levels (joined), with the corrector (PC), the
    corrector alone (C) and the adaptive probability flow, VE solid and VP dashed and open,
    shifted apart in x; the real-vs-real interval as a band. A legend of colours, markers, lines."""
    colours = [c for c in plt.rcParams["axes.prop_cycle"].by_key()["color"] if c != "#7f7f7f"]
    fig, ax = plt.subplots(figsize=(FULL, 3.4))
    lo, hi = real.kid.estimate().interval(level)
    ax.axhspan(KID_UNIT * lo, KID_UNIT * hi, color="0.85")
    for sampler, marker in FLOW_MARKERS.items():
        runs = [r for r in flow.runs if r["sampler"] == sampler]
        if runs:
            _errorbar(
                ax, [r["nfe"] for r in runs], [r["kid"]["value"] for r in runs],
                [r["kid"]["ci_low"] for r in runs], [r["kid"]["ci_high"] for r in runs],
                ls="none", marker=marker, color="0.45",
            )  # fmt: skip
    sdes = list(dict.fromkeys(sde for sde, _, _ in cells))
    samplers = list(dict.fromkeys(s for _, s, _ in cells if s not in SHARED))
    for sde in sdes:
        k = sdes.index(sde)
        shift, style = SHIFT[k % len(SHIFT)], SDE_STYLES[k % len(SDE_STYLES)]
        for (d, sampler, variant), cell in cells.items():
            if d != sde:
                continue
            colour = "0.1" if sampler in SHARED else colours[samplers.index(sampler) % len(colours)]
            face = "none" if style == "--" else colour
            kw = dict(marker=MARKERS[variant], color=colour, mfc=face, ls="none")
            if variant == "p_2n":
                pair = [
                    (cells[(d, sampler, "p_n")], scores[(d, sampler, "p_n")]),
                    (cell, scores[(d, sampler, variant)]),
                ]
                _draw(ax, pair, level, shift, **{**kw, "ls": style})
            elif variant != "p_n":
                _draw(ax, [(cell, scores[(d, sampler, variant)])], level, shift, **kw)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=LINEAR)
    top = max(max(line.get_ydata()) for line in ax.lines if len(line.get_ydata()))
    ticks = [t for t in (-5, -2, 0, 2, 5, 10, 20, 50, 100, 200, 500) if t <= 1.5 * top]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_ylim(top=1.6 * top)
    ax.set_xlabel("function evaluations per image (NFE)")
    ax.set_ylabel(r"KID $\times 10^3$ (lower is better)")
    handles = [Patch(color="0.85", label=f"real vs real ({100 * level:g}%)")]
    drawn = {r["sampler"] for r in flow.runs}
    handles += [Line2D([], [], color="0.45", marker=m, ls="none", label=f"flow {s}")
                for s, m in FLOW_MARKERS.items() if s in drawn]  # fmt: skip
    handles += [Line2D([], [], color=colours[i % len(colours)], lw=2, label=s.replace("_", " "))
                for i, s in enumerate(samplers)]  # fmt: skip
    handles += [Line2D([], [], color="0.3", marker=MARKERS[v], ls="none", label=VARIANT_NAMES[v])
                for v in ("p_n", "pc_n", "c_2n", "adaptive")]  # fmt: skip
    handles += [Line2D([], [], color="0.3", ls=SDE_STYLES[i % 2], marker="o",
                       mfc="none" if SDE_STYLES[i % 2] == "--" else "0.3", label=sde.upper())
                for i, sde in enumerate(sdes)]  # fmt: skip
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=5)
    save(fig, path)


def _draw(ax, pairs, level, shift: float, **kw) -> None:
    intervals = [s.kid.estimate().interval(level) for _, s in pairs]
    _errorbar(
        ax, [shift * c.nfe for c, _ in pairs], [s.kid.value for _, s in pairs],
        [i[0] for i in intervals], [i[1] for i in intervals], **kw,
    )  # fmt: skip
