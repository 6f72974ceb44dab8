"""Figures and plot tables of the sample stage: KID against function evaluations with intervals,
the yardstick's calibration and its standard error against n, sample grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter, ScalarFormatter

from lib.images.classifier import to_model_scale
from lib.images.sampling import Run
from lib.infra.io import write_csv
from lib.infra.stage import value_key
from lib.metrics.yardstick import Score
from lib.plots.figure import FULL, legend_below, save, save_pixels, tile, to_ink

STYLES = ["-", "--", ":", "-."]
HATCHES = ["", "//", "\\\\", "xx"]  # real-vs-real bands, one per schedule
KID_UNIT = 1e3  # KIDs are drawn x 10^3
IMAGE_IN = 0.2  # printed width of one image of a sample grid (in)
PANEL_GAP = 4  # pixels between the mosaics of a sample grid (1 between images)


def _plain_log_ticks(axis, values, min_decades: float = 0.09) -> None:
    """Ticks of a log axis at `values`, labelled as plain numbers where at least `min_decades`
    from the previous label (no overlapping labels), unlabelled elsewhere."""
    ticks, labelled = sorted(set(values)), []
    for v in ticks:
        if not labelled or np.log10(v / labelled[-1]) >= min_decades:
            labelled.append(v)
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(NullFormatter())
    axis.set_ticks(ticks, [f"{v:g}" if v in labelled else "" for v in ticks])


def _pad_ylim(ax, low: float, high: float, pad: float = 0.06) -> None:
    """y limits around [low, high], widened by `pad` of the span in the axis' own scale."""
    forward = ax.yaxis.get_transform()
    a, b = forward.transform([low, high])
    ax.set_ylim(*forward.inverted().transform([a - pad * (b - a), b + pad * (b - a)]))


def _curve_name(run: Run) -> str:
    return f"sde_{value_key('sigma', run.sigma)}" if run.sampler == "sde" else run.sampler


def curves(runs: list[Run], scores: dict[tuple[str, str], Score]) -> dict[tuple[str, str], dict]:
    """KID against NFE per (schedule, sampler), the SDE per sigma: {"nfe", "kid", "kid_se"}
    columns sorted by NFE (a DVC plot each). The exact solve is a reference, not a curve."""
    out: dict[tuple[str, str], dict] = {}
    for r in sorted(runs, key=lambda r: r.nfe):
        if r.sampler == "exact":
            continue
        est = scores[(r.schedule, r.key)].kid.estimate()
        rows = out.setdefault((r.schedule, _curve_name(r)), {"nfe": [], "kid": [], "kid_se": []})
        rows["nfe"].append(r.nfe)
        rows["kid"].append(est.value)
        rows["kid_se"].append(est.se)
    return out


def write_curves(plots: Path, runs: list[Run], scores: dict[tuple[str, str], Score]) -> None:
    """The DVC plot tables: plots/kid_vs_nfe/<schedule>_<sampler>.csv (`curves`) and, per ODE
    sampler, plots/rmse_vs_nfe/<schedule>_<method>.csv (RMSE to the exact solution vs NFE)."""
    for (schedule, sampler), rows in curves(runs, scores).items():
        write_csv(plots / "kid_vs_nfe" / f"{schedule}_{sampler}.csv", rows)
    ode = [r for r in runs if r.rmse_to_exact is not None]
    for s in dict.fromkeys(r.schedule for r in ode):
        for m in dict.fromkeys(r.sampler for r in ode if r.schedule == s):
            rows = [r for r in ode if r.schedule == s and r.sampler == m]
            write_csv(
                plots / "rmse_vs_nfe" / f"{s}_{m}.csv",
                {"nfe": [r.nfe for r in rows], "rmse_to_exact": [r.rmse_to_exact for r in rows]},
            )


def kid_vs_nfe(
    runs: list[Run], scores: dict[tuple[str, str], Score], real: Score, path: Path, level: float
) -> None:
    """Left: KID minus the exact ODE solution's KID of the same schedule, paired (same noise),
    with its interval as error bars, against function evaluations: one colour per sampler (the
    SDE per sigma), one line style per schedule; 0 is "as good as the exact solution", and each
    schedule's real-vs-real difference is a grey band, hatched and edged per schedule.
    Right: per-pixel RMSE to the exact solution. One legend below both."""
    table = curves(runs, scores)
    schedules = list(dict.fromkeys(s for s, _ in table))
    names = list(dict.fromkeys(m for _, m in table))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = [c for c in colours if c not in ("#7f7f7f",)]  # grey is kept for the references
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(FULL, 3.9))
    spread = []
    for schedule, name in table:
        ls = STYLES[schedules.index(schedule) % len(STYLES)]
        colour = colours[names.index(name) % len(colours)]
        exact = scores[(schedule, "exact")]
        own = [
            r
            for r in sorted(runs, key=lambda r: r.nfe)
            if r.schedule == schedule and r.sampler != "exact" and _curve_name(r) == name
        ]
        diffs = [scores[(schedule, r.key)].kid - exact.kid for r in own]
        value = KID_UNIT * np.array([d.value for d in diffs])
        bounds = KID_UNIT * np.array([d.interval(level) for d in diffs])
        spread += list(bounds.ravel())
        ax.errorbar(
            [r.nfe for r in own],
            value,
            yerr=[value - bounds[:, 0], bounds[:, 1] - value],
            marker="o",
            ms=3,
            capsize=2,
            ls=ls,
            color=colour,
        )
        if own and own[0].rmse_to_exact is not None:
            ax2.loglog(
                [r.nfe for r in own],
                [r.rmse_to_exact for r in own],
                marker="o",
                ms=3,
                ls=ls,
                color=colour,
            )
    zero = {"color": "black", "lw": 0.8, "ls": (0, (4, 1.5, 1, 1.5, 1, 1.5))}  # dash-dot-dot
    ax.axhline(0.0, **zero)
    references = [Line2D([], [], **zero)]
    reference_labels = ["0: the exact ODE solution"]
    for schedule in schedules:  # Q against R, paired with nothing: a reference per schedule
        d = real.kid - scores[(schedule, "exact")].kid
        low, high = d.interval(level)
        k = schedules.index(schedule)
        band = {
            "facecolor": (0.5, 0.5, 0.5, 0.15 if k == 0 else 0.0),
            "edgecolor": "dimgrey",
            "hatch": HATCHES[k % len(HATCHES)],
            "ls": STYLES[k % len(STYLES)],
            "lw": 0.8,
        }
        ax.axhspan(KID_UNIT * low, KID_UNIT * high, **band)
        spread += [KID_UNIT * low, KID_UNIT * high]
        references.append(Patch(**band))
        reference_labels.append(f"real vs real, {schedule}")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=max(0.1, float(np.percentile(np.abs(spread), 25))))
    _pad_ylim(ax, np.nanmin(spread), np.nanmax(spread))  # every interval whole, caps included
    _plain_log_ticks(ax.xaxis, [r.nfe for r in runs if r.sampler != "exact"])
    ax.set_xlabel("function evaluations (NFE)")
    ax.set_ylabel(r"KID $-$ KID(exact ODE) ($\times 10^{-3}$)")
    ax.set_title(f"KID difference ({int(level * 100)}% intervals)")
    _plain_log_ticks(ax2.xaxis, [r.nfe for r in runs if r.rmse_to_exact is not None])
    ax2.set_xlabel("function evaluations (NFE)")
    ax2.set_ylabel("per-pixel RMSE (model scale [-1, 1])")
    ax2.set_title("ODE samplers vs the exact solve")
    samplers = [
        Line2D([], [], color=colours[k % len(colours)], marker="o", ms=3) for k in range(len(names))
    ]
    styles = [
        Line2D([], [], color="black", ls=STYLES[k % len(STYLES)]) for k in range(len(schedules))
    ]
    legend_below(
        fig,
        [*samplers, *styles, *references],
        [*(_pretty(n) for n in names), *(f"schedule {s}" for s in schedules), *reference_labels],
        ncol=4,
    )
    save(fig, path)


def _pretty(curve: str) -> str:
    """sde_sigma_0p5 -> SDE sigma = 0.5."""
    if curve.startswith("sde_sigma_"):
        return "SDE σ = " + curve.removeprefix("sde_sigma_").replace("p", ".")
    return curve


def calibration(entries: list[dict], against_n: dict[str, list[dict]], path: Path) -> None:
    """Left: KID of real training images against the pixel-noise sigma added to them (intervals
    as error bars). Right: standard error of KID (and of the best-vs-runner-up difference)
    against the number of generated images, log-log, with a 1/sqrt(n) guide (grey dotted)."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(FULL, 3.0))
    sigma = [e["sigma"] for e in entries]
    kid = np.array([e["kid"]["value"] for e in entries])
    low = np.array([e["kid"]["ci_low"] for e in entries])
    high = np.array([e["kid"]["ci_high"] for e in entries])
    ax.errorbar(range(len(sigma)), kid, yerr=[kid - low, high - kid], marker="o", ms=4, capsize=3)
    ax.margins(x=0.08, y=0.1)
    ax.set_xticks(range(len(sigma)), [f"{s:g}" for s in sigma])
    ax.set_xlabel(r"pixel noise $\sigma$ on real images (model scale)")
    ax.set_ylabel("KID (classifier features)")
    ax.set_yscale("symlog", linthresh=max(1e-4, float(np.abs(high - low).min())))
    for k, (name, rows) in enumerate(against_n.items()):
        n = np.array([r["n_images"] for r in rows])
        se = np.array([r["se"] for r in rows])
        ax2.loglog(n, se, marker="o", ms=4, label=name.replace("_", " "))
        ax2.loglog(
            n,
            se[-1] * np.sqrt(n[-1] / n),
            color="grey",
            lw=0.8,
            ls=":",
            label=r"$\propto 1/\sqrt{n}$ guide" if k == len(against_n) - 1 else None,
        )
    _plain_log_ticks(ax2.xaxis, [r["n_images"] for rows in against_n.values() for r in rows])
    ax2.set_xlabel("generated images n")
    ax2.set_ylabel("standard error of KID")
    legend_below(fig)
    save(fig, path)


def grids(
    runs: list[Run], n_levels: int, n_images: int, nfe: int, sde_n_steps: int
) -> dict[str, dict[str, np.ndarray]]:
    """The first n_images of the exact solve and of each ODE sampler at the NFE closest to nfe
    ("ode"), and of the SDE at sde_n_steps for each sigma ("sde"), per schedule: model-scale
    arrays keyed by panel title."""
    out: dict[str, dict[str, np.ndarray]] = {"ode": {}, "sde": {}}
    for s in dict.fromkeys(r.schedule for r in runs):
        own = [r for r in runs if r.schedule == s]
        shown = [r for r in own if r.sampler == "exact"]
        for m in dict.fromkeys(r.sampler for r in own if r.rmse_to_exact is not None):
            shown.append(min((r for r in own if r.sampler == m), key=lambda r: abs(r.nfe - nfe)))
        for r in [*shown, *(r for r in own if r.sampler == "sde")]:
            if len(r.images) < n_images:
                raise ValueError(
                    f"sample.grid.n_images = {n_images}, but run {s}: {r.label} has only "
                    f"{len(r.images)} images (sample.n_images)"
                )
        for r in shown:
            out["ode"][f"{s}: {r.label}"] = to_model_scale(r.images[:n_images], n_levels).numpy()
        for r in own:
            if r.sampler == "sde" and r.n_steps == sde_n_steps:
                out["sde"][f"{s}: sigma = {r.sigma:g}"] = to_model_scale(
                    r.images[:n_images], n_levels
                ).numpy()
    return out


def image_panels(
    panels: dict[str, np.ndarray],
    path: Path,
    n_panel_cols: int = 4,
    grid_cols: int = 8,
    width: float | None = None,
) -> None:
    """One mosaic per entry, in order, n_panel_cols mosaics per row (titles go in the caption):
    images (n, C, H, W) in the model scale [-1, 1], grid_cols per mosaic row, grey images dark on
    white, as a pixel-exact PNG `width` inches wide (default IMAGE_IN per image, at most FULL)."""
    counts = {len(v) for v in panels.values()}
    if len(counts) != 1:
        raise ValueError(f"every panel needs the same number of images, got {sorted(counts)}")
    mosaics = np.stack([tile(to_ink((np.asarray(v) + 1) / 2), grid_cols) for v in panels.values()])
    n_panel_cols = min(n_panel_cols, len(panels))
    if width is None:
        width = min(FULL, IMAGE_IN * n_panel_cols * min(grid_cols, counts.pop()))
    save_pixels(tile(mosaics, n_panel_cols, gap=PANEL_GAP), path, width)
