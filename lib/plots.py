"""Figures for the report: one function per figure, each saving a PNG deterministically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lib.io import atomic_path  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.titlesize": 9})


def save(fig, path: str | Path) -> None:
    """PNG without a timestamp, written atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


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


def density_1d(samples: np.ndarray, grid: np.ndarray, density: np.ndarray, title: str, ax) -> None:
    ax.hist(samples, bins=80, density=True, alpha=0.5, label="train")
    ax.plot(grid, density, "k", lw=1, label="true density")
    ax.set_title(title)


def datasets_overview(one_d: dict, two_d: dict, path: Path) -> None:
    """1D: histogram of the train split with the true density; 2D: scatter of train points."""
    n = len(one_d) + len(two_d)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.6 * rows), squeeze=False)
    flat = axes.ravel()
    for ax, (name, (train, grid, density)) in zip(flat, one_d.items()):
        density_1d(train[:, 0], grid, density, name, ax)
    for ax, (name, train) in zip(flat[len(one_d) :], two_d.items()):
        pts = train[:2000]
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5)
        ax.set_aspect("equal")
        ax.set_title(name)
    for ax in flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    save(fig, path)


def image_grid(
    images: np.ndarray, labels: np.ndarray, n_levels: int, path: Path, n_per_class: int = 8
) -> None:
    """n_per_class examples of each class, one row per class."""
    classes = np.unique(labels)
    fig, axes = plt.subplots(
        len(classes), n_per_class, figsize=(0.6 * n_per_class, 0.6 * len(classes)), squeeze=False
    )
    for row, c in zip(axes, classes):
        picks = images[labels == c][:n_per_class]
        for ax, img in zip(row, picks):
            img = img.transpose(1, 2, 0) / (n_levels - 1)
            ax.imshow(
                img[..., 0] if img.shape[-1] == 1 else img,
                cmap="gray_r" if img.shape[-1] == 1 else None,
            )
        for ax in row:
            ax.axis("off")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    save(fig, path)


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


def density_fit_1d(name: str, train: torch.Tensor, density, model_log_prob, path: Path) -> None:
    """Model density vs true density vs histogram of the training data."""
    lo, hi = train.min().item() - 2, train.max().item() + 2
    grid = torch.linspace(lo, hi, 600)[:, None]
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    ax.hist(train[:, 0].numpy(), bins=80, density=True, alpha=0.35, label="train histogram")
    ax.plot(grid[:, 0], density.log_prob(grid).exp(), "k", lw=1.2, label="true density")
    with torch.no_grad():
        ax.plot(grid[:, 0], model_log_prob(grid).exp(), "C3", lw=1.2, ls="--", label="model")
    ax.set_title(name)
    ax.set_xlabel("y")
    ax.legend(fontsize=7)
    save(fig, path)


def sample_paths_1d(paths: torch.Tensor, title: str, path: Path) -> None:
    """Trajectories (n_t, n, 1) from t = 0 (base) to t = 1 (data)."""
    t = np.linspace(0, 1, paths.shape[0])
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    ax.plot(t, paths[..., 0].numpy(), lw=0.7, alpha=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel("$x_t$")
    ax.set_title(title)
    save(fig, path)


def integrator_convergence(conv: dict, name: str, path: Path) -> None:
    """|mean log-likelihood(T) - tight reference| vs T for each integrator (log-log)."""
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    for method, errors in conv["errors"].items():
        ax.loglog(conv["n_steps"], np.maximum(errors, 1e-16), "o-", ms=3, label=method)
    ax.set_xlabel("T (steps)")
    ax.set_ylabel("|LL(T) - LL(tight)| (nats)")
    ax.set_title(f"CNF integrators, {name}")
    ax.legend(fontsize=7)
    save(fig, path)


# --- 2D flows -------------------------------------------------------------------------------


def _square(ax, lim: float) -> None:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


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
            _square(ax, lim)
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
            _square(ax, lim)
        axes[0, c].set_title(f"t = {t:g}")
    axes[0, 0].set_ylabel("true path")
    axes[1, 0].set_ylabel("generated")
    save(fig, path)


def trajectories_2d(panels: dict[str, np.ndarray], path: Path, n_lines: int = 150) -> None:
    """One panel per title: trajectories (n_steps + 1, n, 2) from start (grey) to end (red)."""
    lim = max(float(np.abs(p).max()) for p in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 2.9), squeeze=False)
    for ax, (title, p) in zip(axes[0], panels.items()):
        ax.plot(p[:, :n_lines, 0], p[:, :n_lines, 1], lw=0.4, color="C0", alpha=0.5)
        ax.scatter(p[0, :, 0], p[0, :, 1], s=1, color="grey")
        ax.scatter(p[-1, :, 0], p[-1, :, 1], s=1, color="C3")
        _square(ax, lim)
        ax.set_title(title)
    save(fig, path)


def metric_vs_nfe(
    curves: dict[str, tuple[list[int], list[float]]], floor: float, ylabel: str, path: Path
) -> None:
    """Log-log metric vs number of function evaluations per sampler, with the data's floor."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    for name, (nfe, values) in curves.items():
        ax.loglog(nfe, np.maximum(values, 1e-7), "o-", ms=3, label=name)
    ax.axhline(floor, color="grey", ls="--", lw=1, label="held-out vs test")
    ax.set_xlabel("function evaluations")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
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
        _square(ax, lim)
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


def image_corruption(rows: np.ndarray, times: list[float], path: Path) -> None:
    """rows (n_images, n_times, C, H, W) in the model's scale [-1, 1]: one image per row, its
    corrupted versions x_t along the columns."""
    n, m = rows.shape[:2]
    fig, axes = plt.subplots(n, m, figsize=(0.9 * m, 0.9 * n), squeeze=False)
    for i in range(n):
        for j in range(m):
            img = np.clip((rows[i, j].transpose(1, 2, 0) + 1) / 2, 0, 1)
            ax = axes[i, j]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {times[j]:g}")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    save(fig, path)


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


def fid_vs_nfe(
    curves: dict[tuple[str, str], tuple[list[int], list[float], list[float]]],
    references: dict[str, float],
    floor: float,
    path: Path,
) -> None:
    """Two panels against function evaluations, curves keyed (schedule, sampler) with values
    (nfe, fid, rmse): FID (each schedule's many-step reference dotted, the real-vs-real floor
    dashed grey), and the RMSE to the many-step solution from the same noise (log-log).
    One colour per sampler, one line style per schedule."""
    schedules = list(dict.fromkeys(s for s, _ in curves))
    samplers = list(dict.fromkeys(m for _, m in curves))
    styles = ["-", "--", ":", "-."]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.3))
    for (schedule, sampler), (nfe, fids, rmses) in curves.items():
        style = dict(
            marker="o",
            ms=3,
            ls=styles[schedules.index(schedule) % len(styles)],
            color=colours[samplers.index(sampler) % len(colours)],
            label=f"{sampler}, {schedule}",
        )
        ax.semilogx(nfe, fids, **style)
        ax2.loglog(nfe, rmses, **style)
    for i, (schedule, value) in enumerate(references.items()):
        ax.axhline(
            value,
            color="black",
            lw=0.8,
            ls=styles[i % len(styles)],
            alpha=0.6,
            label=f"many-step Euler, {schedule}",
        )
    ax.axhline(floor, color="grey", ls="--", lw=1, label="real vs real")
    ax.set_xlabel("function evaluations")
    ax.set_ylabel("FID (classifier features)")
    ax.legend(fontsize=6, ncol=2)
    ax2.set_xlabel("function evaluations")
    ax2.set_ylabel("RMSE to the many-step Euler solution")
    save(fig, path)
