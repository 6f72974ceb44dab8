"""Figures and plot tables of the sample stage: KID against function evaluations with intervals,
the yardstick's calibration and its standard error against n, sample grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

from lib.images.classifier import to_model_scale  # noqa: E402
from lib.images.sampling import Run  # noqa: E402
from lib.infra.io import write_csv  # noqa: E402
from lib.infra.stage import value_key  # noqa: E402
from lib.metrics.yardstick import Score  # noqa: E402
from lib.plots.figure import save  # noqa: E402

STYLES = ["-", "--", ":", "-."]
KID_UNIT = 1e3  # KIDs are drawn x 10^3


def _plain_log_ticks(axis, values) -> None:
    """Tick labels of a log axis at `values`, printed as plain numbers (no minor labels)."""
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(NullFormatter())
    axis.set_ticks(sorted(set(values)))


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
    SDE per sigma), one line style per schedule; 0 is "as good as the exact solution", and the
    real-vs-real set's difference is the grey band. Right: per-pixel RMSE to the exact
    solution."""
    table = curves(runs, scores)
    schedules = list(dict.fromkeys(s for s, _ in table))
    names = list(dict.fromkeys(m for _, m in table))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.0, 3.8), gridspec_kw={"wspace": 0.3})
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
        label = name.replace("_sigma_", " σ=").replace("p", ".")
        ax.errorbar(
            [r.nfe for r in own],
            value,
            yerr=[value - bounds[:, 0], bounds[:, 1] - value],
            marker="o",
            ms=3,
            capsize=2,
            ls=ls,
            color=colour,
            label=f"{label}, {schedule}",
        )
        if own and own[0].rmse_to_exact is not None:
            ax2.loglog(
                [r.nfe for r in own],
                [r.rmse_to_exact for r in own],
                marker="o",
                ms=3,
                ls=ls,
                color=colour,
                label=f"{name}, {schedule}",
            )
    ax.axhline(0.0, color="black", lw=0.8)
    for i, schedule in enumerate(schedules):  # Q against R, paired with nothing: a reference
        d = real.kid - scores[(schedule, "exact")].kid
        low, high = d.interval(level)
        ax.axhspan(
            KID_UNIT * low,
            KID_UNIT * high,
            color="grey",
            alpha=0.15,
            label="real vs real" if i == 0 else None,
        )
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=max(0.1, float(np.percentile(np.abs(spread), 25))))
    _plain_log_ticks(ax.xaxis, [r.nfe for r in runs if r.sampler != "exact"])
    ax.set_xlabel("function evaluations")
    ax.set_ylabel(f"KID - KID(exact ODE), x 1000 ({int(level * 100)}%)")
    ax.legend(fontsize=5.5, ncol=2)
    _plain_log_ticks(ax2.xaxis, [r.nfe for r in runs if r.rmse_to_exact is not None])
    ax2.set_xlabel("function evaluations")
    ax2.set_ylabel("RMSE to the exact ODE solution")
    ax2.legend(fontsize=5.5)
    save(fig, path)


def calibration(entries: list[dict], against_n: dict[str, list[dict]], path: Path) -> None:
    """Left: KID of real training images against the pixel-noise sigma added to them (intervals
    as error bars). Right: standard error of KID (and of the best-vs-runner-up difference)
    against the number of generated images, log-log, with a 1/sqrt(n) guide."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.2), gridspec_kw={"wspace": 0.3})
    sigma = [e["sigma"] for e in entries]
    kid = np.array([e["kid"]["value"] for e in entries])
    low = np.array([e["kid"]["ci_low"] for e in entries])
    high = np.array([e["kid"]["ci_high"] for e in entries])
    ax.errorbar(range(len(sigma)), kid, yerr=[kid - low, high - kid], marker="o", capsize=3)
    ax.set_xticks(range(len(sigma)), [f"{s:g}" for s in sigma])
    ax.set_xlabel("pixel noise sigma on real training images (model scale)")
    ax.set_ylabel("KID")
    ax.set_yscale("symlog", linthresh=max(1e-4, float(np.abs(high - low).min())))
    for name, rows in against_n.items():
        n = np.array([r["n_images"] for r in rows])
        se = np.array([r["se"] for r in rows])
        ax2.loglog(n, se, marker="o", label=name.replace("_", " "))
        ax2.loglog(n, se[-1] * np.sqrt(n[-1] / n), color="grey", lw=0.6, ls=":")
    _plain_log_ticks(ax2.xaxis, [r["n_images"] for rows in against_n.values() for r in rows])
    ax2.set_xlabel("generated images n")
    ax2.set_ylabel("standard error of KID")
    ax2.legend(fontsize=7, title="1/sqrt(n): dotted", title_fontsize=6)
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
        for r in shown:
            out["ode"][f"{s}: {r.label}"] = to_model_scale(r.images[:n_images], n_levels).numpy()
        for r in own:
            if r.sampler == "sde" and r.n_steps == sde_n_steps:
                out["sde"][f"{s}: sigma = {r.sigma:g}"] = to_model_scale(
                    r.images[:n_images], n_levels
                ).numpy()
    return out


def _mosaic(images: np.ndarray, n_cols: int) -> np.ndarray:
    """(n, C, H, W) in [0, 1] -> one (rows (H + 1) - 1, n_cols (W + 1) - 1, C) array, the images
    row by row with a 1-pixel gap of background (0 for one channel, white for colour)."""
    n, c, h, w = images.shape
    n_rows = -(-n // n_cols)
    gap = 0.0 if c == 1 else 1.0
    out = np.full((n_rows * (h + 1) - 1, n_cols * (w + 1) - 1, c), gap)
    for k, img in enumerate(images):
        r, q = divmod(k, n_cols)
        out[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = img.transpose(1, 2, 0)
    return out


def image_panels(
    panels: dict[str, np.ndarray], path: Path, n_panel_cols: int = 4, grid_cols: int = 8
) -> None:
    """One titled mosaic per entry: images (n, C, H, W) in the model scale [-1, 1], grid_cols
    images per mosaic row, n_panel_cols mosaics per figure row (grey images dark on white)."""
    n = len(panels)
    n_panel_cols = min(n_panel_cols, n)
    n_panel_rows = -(-n // n_panel_cols)
    first = next(iter(panels.values()))
    aspect = -(-len(first) // grid_cols) / grid_cols
    fig, axes = plt.subplots(
        n_panel_rows,
        n_panel_cols,
        figsize=(2.0 * n_panel_cols, (2.0 * aspect + 0.3) * n_panel_rows),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, images) in zip(axes.flat, panels.items()):
        m = _mosaic(np.clip((np.asarray(images) + 1) / 2, 0, 1), grid_cols)
        if m.shape[-1] == 1:
            ax.imshow(m[..., 0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(m, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.subplots_adjust(wspace=0.08, hspace=0.25)
    save(fig, path)
