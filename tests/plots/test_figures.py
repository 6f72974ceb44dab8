"""Report figures on tiny inputs: the PNG is written, and each series reaches the figure."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lib.data.densities import gaussian_mixture
from lib.images.sampling import Run
from lib.plots import figure, fits_1d, primer, sampling  # selects Agg before any figure exists
from lib.sde.primer import LangevinRun, SolverOrder, VarianceRun

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def saved(monkeypatch):
    """The figures the plotting functions save, kept for inspection (save still writes them, at a
    low resolution to keep the tests fast)."""
    figs = []

    def capture(fig, path):
        figs.append(fig)
        figure.save(fig, path)

    for module in (primer, fits_1d, sampling):
        monkeypatch.setattr(module, "save", capture)
    with plt.rc_context({"savefig.dpi": 30}):
        yield figs
    plt.close("all")


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 1000


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _curve():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [1, 0, 1])
    ax.set_title("same")
    return fig


def test_save_writes_a_png_closes_the_figure_and_is_deterministic(tmp_path):
    a, b = _curve(), _curve()
    figure.save(a, tmp_path / "sub" / "a.png")
    figure.save(b, tmp_path / "sub" / "b.png")
    assert not plt.fignum_exists(a.number) and not plt.fignum_exists(b.number)
    assert _is_png(tmp_path / "sub" / "a.png")
    assert (tmp_path / "sub" / "a.png").read_bytes() == (tmp_path / "sub" / "b.png").read_bytes()
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.png", "b.png"]


def test_solver_orders_one_line_per_method(tmp_path, saved):
    n = [8, 16, 32]
    runs = [
        SolverOrder("euler", n, [1e-1, 5e-2, 2.5e-2], 1.0),
        SolverOrder("heun", n, [1e-2, 2.5e-3, 6.25e-4], 2.004),
        SolverOrder("rk4", n, [1e-4, 6.25e-6, 3.9e-7], 3.996),
    ]
    primer.solver_orders(runs, tmp_path / "orders.png")
    assert _is_png(tmp_path / "orders.png")
    (ax,) = saved[0].axes
    assert len(ax.get_lines()) == 3
    for line, r in zip(ax.get_lines(), runs):
        np.testing.assert_array_equal(line.get_xdata(), r.n_steps)
        np.testing.assert_array_equal(line.get_ydata(), r.errors)
    assert _legend(ax) == ["euler (order 1.00)", "heun (order 2.00)", "rk4 (order 4.00)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16", "32"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel() == "number of steps"


def _variance_run(label, n_t=6, n_plot=3, offset=0.0):
    t = torch.linspace(0, 1, n_t, dtype=torch.float64)
    paths = offset + torch.arange(n_plot, dtype=torch.float64) * t[:, None]
    return VarianceRun(label, t, paths, t.clone(), t.clone(), t * 0, torch.randn(200))


def test_brownian_paths_one_panel_per_sigma_with_every_path(tmp_path, saved):
    runs = [_variance_run(0.5), _variance_run(2.0, n_plot=4)]
    primer.brownian_paths(runs, tmp_path / "bm.png")
    assert _is_png(tmp_path / "bm.png")
    axes = saved[0].axes
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == [r"$\sigma = 0.5$", r"$\sigma = 2$"]
    for ax, r in zip(axes, runs):
        lines = ax.get_lines()
        assert len(lines) == r.paths.shape[1]
        for k, line in enumerate(lines):
            np.testing.assert_allclose(line.get_ydata(), r.paths[:, k].numpy())
        assert len(ax.collections) == 1  # the +-2 sd band
    assert axes[0].get_ylabel() == "$X_t$"


def test_ou_paths_top_paths_bottom_final_law(tmp_path, saved):
    runs = [_variance_run(0.25, n_plot=6), _variance_run(4.0)]
    primer.ou_paths(runs, 0.5, tmp_path / "ou.png")
    assert _is_png(tmp_path / "ou.png")
    axes = np.array(saved[0].axes).reshape(2, 2)
    for k, r in enumerate(runs):
        assert len(axes[0, k].get_lines()) == r.paths.shape[1]
        sigma = np.sqrt(2 * r.label * 0.5)
        assert axes[0, k].get_title() == rf"$\theta = {r.label:g},\ \sigma = {sigma:.3g}$"
        (density,) = axes[1, k].get_lines()
        x, y = density.get_xdata(), density.get_ydata()
        assert np.trapezoid(y, x) == pytest.approx(1.0, abs=1e-3)  # N(0, 0.5) over +-4 sd
        assert y.max() == pytest.approx(1 / np.sqrt(2 * np.pi * 0.5), rel=1e-3)
        assert len(axes[1, k].patches) == 60  # the histogram of final values
    assert sorted(_legend(axes[1, 0])) == [r"$N(0, \sigma^2/2\theta)$", "simulated $X_T$ - mean"]


def test_langevin_convergence_panels_and_ks_curve(tmp_path, saved):
    n_snap, titles = 3, [0, 1, 2]  # four evenly spaced picks of 3 snapshots: each one once
    target = gaussian_mixture([[-1.0], [1.0]], [0.5, 0.5], [0.5, 0.5])
    t = torch.arange(n_snap, dtype=torch.float32)
    snaps = torch.randn(n_snap, 300, generator=torch.Generator().manual_seed(0))
    ks = torch.logspace(0, -2, n_snap)
    draws = torch.full((5,), 0.02)
    run = LangevinRun(target, t, snaps, ks, ks.clone(), 0.02, 0.001, draws, draws - 0.02)
    primer.langevin_convergence(run, tmp_path / "lv.png")
    assert _is_png(tmp_path / "lv.png")
    axes = saved[0].axes
    assert len(axes) == len(titles) + 1
    assert [ax.get_title() for ax in axes[:-1]] == [f"t = {k:g}" for k in titles]
    for ax in axes[:-1]:
        assert len(ax.get_lines()) == 1 and len(ax.patches) == 80
    ks_line, floor = axes[-1].get_lines()
    np.testing.assert_allclose(ks_line.get_ydata(), ks.numpy())
    assert list(floor.get_ydata()) == [0.02, 0.02]
    assert axes[-1].get_yscale() == "log"


def test_density_fit_1d_draws_truth_and_model(tmp_path, saved):
    density = gaussian_mixture([[0.0]], [1.0])
    train = torch.randn(500, 1, generator=torch.Generator().manual_seed(0))

    def model_log_prob(x):
        return density.log_prob(x) - 0.1

    fits_1d.density_fit_1d("gaussian", train, density, model_log_prob, tmp_path / "fit.png")
    assert _is_png(tmp_path / "fit.png")
    (ax,) = saved[0].axes
    truth, model = ax.get_lines()
    grid = torch.tensor(np.asarray(truth.get_xdata()), dtype=torch.float32)[:, None]
    assert grid.min().item() == pytest.approx(train.min().item() - 2, abs=1e-5)
    assert grid.max().item() == pytest.approx(train.max().item() + 2, abs=1e-5)
    np.testing.assert_allclose(truth.get_ydata(), density.log_prob(grid).exp(), rtol=1e-5)
    np.testing.assert_allclose(model.get_ydata(), np.exp(-0.1) * truth.get_ydata(), rtol=1e-5)
    assert sorted(_legend(ax)) == ["model", "train histogram", "true density"]
    assert ax.get_title() == "gaussian"
    assert len(ax.patches) == 80


def test_sample_paths_1d_one_line_per_trajectory(tmp_path, saved):
    paths = torch.randn(11, 4, 1)
    fits_1d.sample_paths_1d(paths, "paths", tmp_path / "p.png")
    assert _is_png(tmp_path / "p.png")
    (ax,) = saved[0].axes
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0].get_xdata(), np.linspace(0, 1, 11))
    np.testing.assert_allclose(lines[3].get_ydata(), paths[:, 3, 0].numpy())
    assert ax.get_title() == "paths"


def test_integrator_convergence_clips_exact_zeros(tmp_path, saved):
    conv = {"n_steps": [4, 8, 16], "errors": {"euler": [0.4, 0.2, 0.1], "rk4": [1e-3, 0.0, 1e-6]}}
    fits_1d.integrator_convergence(conv, "gaussian", tmp_path / "c.png")
    assert _is_png(tmp_path / "c.png")
    (ax,) = saved[0].axes
    euler, rk4 = ax.get_lines()
    np.testing.assert_array_equal(euler.get_ydata(), [0.4, 0.2, 0.1])
    np.testing.assert_array_equal(rk4.get_ydata(), [1e-3, 1e-16, 1e-6])  # log axis: no zero
    assert _legend(ax) == ["euler", "rk4"]
    assert ax.get_title() == "CNF integrators, gaussian"


def test_mosaic_places_images_row_by_row_with_gaps():
    images = np.stack([np.full((1, 2, 2), v) for v in (0.25, 0.5, 0.75)])  # (3, 1, 2, 2)
    m = sampling._mosaic(images, 2)
    assert m.shape == (5, 5, 1)
    expected = np.array(
        [
            [0.25, 0.25, 0, 0.5, 0.5],
            [0.25, 0.25, 0, 0.5, 0.5],
            [0, 0, 0, 0, 0],
            [0.75, 0.75, 0, 0, 0],
            [0.75, 0.75, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(m[..., 0], expected)
    colour = sampling._mosaic(np.zeros((2, 3, 2, 2)), 2)
    assert colour.shape == (2, 5, 3)
    assert (colour[:, 2] == 1).all() and (colour[:, [0, 1, 3, 4]] == 0).all()  # white gap


def test_image_panels_one_titled_mosaic_per_entry(tmp_path, saved):
    panels = {f"panel {k}": np.full((5, 1, 3, 3), -1.0 + 0.5 * k) for k in range(5)}
    sampling.image_panels(panels, tmp_path / "grid.png", n_panel_cols=2, grid_cols=4)
    assert _is_png(tmp_path / "grid.png")
    axes = saved[0].axes
    assert len(axes) == 6  # 3 rows of 2, the last one empty
    shown = [ax for ax in axes if ax.get_images()]
    assert [ax.get_title() for ax in shown] == list(panels)
    for k, ax in enumerate(shown):
        (img,) = ax.get_images()
        data = np.asarray(img.get_array())
        assert data.shape == (2 * 4 - 1, 4 * 4 - 1)  # 5 images, 4 per row: 2 rows
        assert data[0, 0] == pytest.approx(0.25 * k)  # model scale [-1, 1] -> [0, 1]


def test_calibration_draws_every_series(tmp_path, saved):
    entries = [
        {"sigma": s, "kid": {"value": v, "ci_low": v - 0.001, "ci_high": v + 0.002}}
        for s, v in [(0.0, 0.0005), (0.05, 0.01), (0.1, 0.04)]
    ]
    rows = [{"n_images": n, "se": 0.01 / np.sqrt(n)} for n in (100, 400, 1600)]
    against_n = {"kid": rows, "best_vs_runner_up": [{**r, "se": 2 * r["se"]} for r in rows]}
    sampling.calibration(entries, against_n, tmp_path / "cal.png")
    assert _is_png(tmp_path / "cal.png")
    ax, ax2 = saved[0].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.05", "0.1"]
    (bars,) = ax.containers
    np.testing.assert_allclose(bars.lines[0].get_ydata(), [0.0005, 0.01, 0.04])
    assert len(ax2.get_lines()) == 4  # each series and its 1/sqrt(n) guide
    assert _legend(ax2) == ["kid", "best vs runner up"]
    guide = ax2.get_lines()[1]  # through the last point with slope -1/2
    np.testing.assert_allclose(guide.get_ydata(), [0.001, 0.0005, 0.00025])


def _run(sampler, nfe, n_steps=None, sigma=None, value=0):
    images = np.full((4, 1, 2, 2), value, dtype=np.uint8)
    rmse = 0.1 if sampler not in ("exact", "sde") else None
    return Run("vp", sampler, nfe, images, 0.0, n_steps, sigma, rmse)


def test_grids_pick_the_nfe_closest_to_the_request():
    runs = [
        _run("exact", 300, value=0),
        _run("euler", 10, 10, value=1),
        _run("euler", 40, 40, value=2),
        _run("heun", 20, 10, value=3),
        _run("sde", 100, 100, 0.5, value=4),
        _run("sde", 200, 200, 0.5, value=5),
        _run("sde", 100, 100, 1.0, value=6),
    ]
    out = sampling.grids(runs, n_levels=8, n_images=3, nfe=30, sde_n_steps=100)
    assert list(out["ode"]) == ["vp: exact ODE (300 NFE)", "vp: euler, NFE 40", "vp: heun, NFE 20"]
    assert list(out["sde"]) == ["vp: sigma = 0.5", "vp: sigma = 1"]
    assert out["ode"]["vp: euler, NFE 40"].shape == (3, 1, 2, 2)
    # bin centres 2 (x + 1/2) / K - 1 of the chosen run's images
    assert out["ode"]["vp: euler, NFE 40"][0, 0, 0, 0] == pytest.approx(2 * 2.5 / 8 - 1)
    assert out["sde"]["vp: sigma = 1"][0, 0, 0, 0] == pytest.approx(2 * 6.5 / 8 - 1)
