"""Report figures on tiny inputs: the file is written, each series reaches the figure, and every
figure keeps the house style (lib.plots.figure): printed width, fonts, panels per row, labelled
axes, legends outside the data, 2D limits around every point; image grids are pixel-exact."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.text import Text
from PIL import Image

# lib.plots selects Agg before any figure exists
from lib.data.densities import gaussian_mixture
from lib.images.sampling import Run
from lib.metrics.sample_quality import KidScore
from lib.plots import (
    complexity,
    data,
    ddls,
    figure,
    fits_1d,
    flows_2d,
    image_training,
    panels_2d,
    primer,
    sampling,
    score_sde,
)
from lib.sde.primer import LangevinRun, SolverOrder, VarianceRun

PNG = b"\x89PNG\r\n\x1a\n"
PLOTTING = (complexity, data, ddls, fits_1d, flows_2d, panels_2d, primer, sampling, score_sde)


@pytest.fixture
def saved(monkeypatch):
    """The figures the plotting functions save, kept for inspection and checked against the house
    style once drawn (save still writes them, rasters at a low resolution to keep tests fast)."""
    figs = []

    def capture(fig, path):
        figs.append(fig)
        figure.save(fig, path)
        assert_house_style(fig)

    for module in PLOTTING:
        monkeypatch.setattr(module, "save", capture)
    with plt.rc_context({"savefig.dpi": 30, "pdf.fonttype": 3}):  # Type 3: no font subsetting
        yield figs
    plt.close("all")


def _inches(fig, ax) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of an axes box on the printed page, in inches."""
    w, h = fig.get_size_inches()
    b = ax.get_position()
    return b.x0 * w, b.x1 * w, b.y0 * h, b.y1 * h


def _rows(fig) -> list[list]:
    """The visible axes grouped into rows: boxes whose vertical extents overlap."""
    rows: list[list] = []
    for ax in sorted((a for a in fig.axes if a.axison), key=lambda a: -_inches(fig, a)[3]):
        y0, y1 = _inches(fig, ax)[2:]
        for row in rows:
            r0, r1 = _inches(fig, row[0])[2:]
            if min(y1, r1) - max(y0, r0) > 0.5 * min(y1 - y0, r1 - r0):
                row.append(ax)
                break
        else:
            rows.append([ax])
    return rows


def _small_multiples(fig, row) -> bool:
    """Up to five panels sharing the y axis, y tick labels only on the first, each >= 1.2 in."""
    first = min(row, key=lambda a: a.get_position().x0)
    return (
        len(row) <= 5
        and all(first.get_shared_y_axes().joined(first, a) for a in row)
        and not any(
            t.get_visible() and t.get_text()
            for a in row
            if a is not first
            for t in a.get_yticklabels()
        )
        and all(_inches(fig, a)[1] - _inches(fig, a)[0] >= 1.2 for a in row)
    )


def _inside(ax) -> None:
    """Every point drawn (scatter offsets and line vertices) lies within the axes limits."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    clouds = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    clouds += [np.column_stack([ln.get_xdata(), ln.get_ydata()]) for ln in ax.get_lines()]
    for xy in clouds:
        xy = np.asarray(xy, dtype=float)
        assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x1).all(), ax.get_title()
        assert (xy[:, 1] >= y0).all() and (xy[:, 1] <= y1).all(), ax.get_title()


def assert_house_style(fig) -> None:
    """What lib.plots.figure promises of every drawn plot figure."""
    assert fig.get_size_inches()[0] <= figure.FULL + 1e-9
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            assert t.get_fontsize() >= figure.MIN_FONT_PT, (t.get_text(), t.get_fontsize())
    for row in _rows(fig):
        assert len(row) <= 3 or _small_multiples(fig, row), [a.get_title() for a in row]
    for legend in fig.legends:  # below the axes, within the page
        assert legend.get_window_extent().width <= fig.bbox.width + 1
        assert (
            legend.get_window_extent().y1
            <= min(a.get_position().y0 for a in fig.axes) * fig.bbox.height + 1
        )
    visible = [a for a in fig.axes if a.axison]
    for ax in visible:
        assert ax.get_legend() is None, "legends go outside the data (figure.legend_below)"
        x0, x1, y0, y1 = _inches(fig, ax)
        column = [a for a in visible if abs(_inches(fig, a)[0] - x0) < 0.05]
        row = [a for a in visible if abs(_inches(fig, a)[2] - y0) < 0.05]
        assert any(a.get_xlabel() for a in column), f"no x label: {ax.get_title()!r}"
        assert any(a.get_ylabel() for a in row), f"no y label: {ax.get_title()!r}"
        if ax.get_aspect() == 1.0:  # a 2D point cloud
            _inside(ax)


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 100


def _is_pdf(path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"%PDF") and len(data) > 1000


def _legend(fig) -> list[str]:
    (legend,) = fig.legends
    return [t.get_text() for t in legend.get_texts()]


def _curve():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [1, 0, 1])
    ax.set_title("same")
    return fig


@pytest.mark.parametrize("suffix", [".pdf", ".png"])
def test_save_picks_the_format_closes_the_figure_and_is_deterministic(tmp_path, suffix):
    a, b = _curve(), _curve()
    figure.save(a, tmp_path / "sub" / f"a{suffix}")
    figure.save(b, tmp_path / "sub" / f"b{suffix}")
    assert not plt.fignum_exists(a.number) and not plt.fignum_exists(b.number)
    first = (tmp_path / "sub" / f"a{suffix}").read_bytes()
    assert (_is_pdf if suffix == ".pdf" else _is_png)(tmp_path / "sub" / f"a{suffix}")
    assert first == (tmp_path / "sub" / f"b{suffix}").read_bytes()
    assert b"CreationDate" not in first
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [f"a{suffix}", f"b{suffix}"]


def test_save_is_at_the_figure_size_and_refuses_other_formats(tmp_path):
    fig = _curve()
    fig.set_size_inches(figure.THIRD, 2.0)
    figure.save(fig, tmp_path / "c.pdf")
    head = (tmp_path / "c.pdf").read_bytes()
    assert f"/MediaBox [ 0 0 {72 * figure.THIRD:g} 144 ]".encode() in head  # printed size (pt)
    with pytest.raises(ValueError, match="use .pdf or .png"):
        figure.save(_curve(), tmp_path / "c.svg")
    assert not (tmp_path / "c.svg").exists()


def test_square_box_holds_every_point_with_a_margin():
    a, b = np.array([[0.0, 0.0], [4.0, 1.0]]), np.array([[1.0, -2.0]])
    x0, x1, y0, y1 = figure.square_box([a, b], margin=0.05)
    assert x1 - x0 == pytest.approx(y1 - y0) == pytest.approx(4.0 * 1.1)  # the wider side
    assert (x0 + x1) / 2 == pytest.approx(2.0) and (y0 + y1) / 2 == pytest.approx(-0.5)


def test_solver_orders_one_line_per_method(tmp_path, saved):
    n = [8, 16, 32]
    runs = [
        SolverOrder("euler", n, [1e-1, 5e-2, 2.5e-2], 1.0),
        SolverOrder("heun", n, [1e-2, 2.5e-3, 6.25e-4], 2.004),
        SolverOrder("rk4", n, [1e-4, 6.25e-6, 3.9e-7], 3.996),
    ]
    primer.solver_orders(runs, tmp_path / "orders.pdf")
    assert _is_pdf(tmp_path / "orders.pdf")
    (ax,) = saved[0].axes
    assert len(ax.get_lines()) == 3
    for line, r in zip(ax.get_lines(), runs):
        np.testing.assert_array_equal(line.get_xdata(), r.n_steps)
        np.testing.assert_array_equal(line.get_ydata(), r.errors)
    assert _legend(saved[0]) == ["euler (order 1.00)", "heun (order 2.00)", "rk4 (order 4.00)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16", "32"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel() == "number of steps"


def _variance_run(label, n_t=6, n_plot=3, offset=0.0):
    t = torch.linspace(0, 1, n_t, dtype=torch.float64)
    paths = offset + torch.arange(n_plot, dtype=torch.float64) * t[:, None]
    return VarianceRun(label, t, paths, t.clone(), t.clone(), t * 0, torch.randn(200))


def test_brownian_paths_one_panel_per_sigma_with_every_path(tmp_path, saved):
    runs = [_variance_run(0.5), _variance_run(2.0, n_plot=4)]
    primer.brownian_paths(runs, tmp_path / "bm.pdf")
    assert _is_pdf(tmp_path / "bm.pdf")
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
    primer.ou_paths(runs, 0.5, tmp_path / "ou.pdf")
    assert _is_pdf(tmp_path / "ou.pdf")
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
    assert r"$N(0, \sigma^2/2\theta)$" in _legend(saved[0])
    assert "simulated $X_T$ - mean" in _legend(saved[0])


def test_langevin_convergence_panels_and_ks_curve(tmp_path, saved):
    n_snap, titles = 3, [0, 1, 2]  # four evenly spaced picks of 3 snapshots: each one once
    target = gaussian_mixture([[-1.0], [1.0]], [0.5, 0.5], [0.5, 0.5])
    t = torch.arange(n_snap, dtype=torch.float32)
    snaps = torch.randn(n_snap, 300, generator=torch.Generator().manual_seed(0))
    ks = torch.logspace(0, -2, n_snap)
    draws = torch.linspace(0.01, 0.03, 41)  # the exact samples' KS values: mean 0.02
    run = LangevinRun(target, t, snaps, ks, ks.clone(), 0.02, 0.001, draws, draws - 0.02)
    primer.langevin_convergence(run, tmp_path / "lv.pdf")
    assert _is_pdf(tmp_path / "lv.pdf")
    axes = saved[0].axes
    assert len(axes) == len(titles) + 1
    assert [ax.get_title() for ax in axes[:-1]] == [f"t = {k:g}" for k in titles]
    for ax in axes[:-1]:
        assert len(ax.get_lines()) == 1 and len(ax.patches) == 80
    ks_line, floor = axes[-1].get_lines()
    np.testing.assert_allclose(ks_line.get_ydata(), ks.numpy())
    assert list(floor.get_ydata()) == [0.02, 0.02]
    (band,) = axes[-1].patches  # the exact samples' central 95%
    corners = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1]
    assert (corners.min(), corners.max()) == pytest.approx((0.0105, 0.0295))
    assert axes[-1].get_yscale() == "log"


def test_density_fit_1d_draws_truth_and_model(tmp_path, saved):
    density = gaussian_mixture([[0.0]], [1.0])
    train = torch.randn(500, 1, generator=torch.Generator().manual_seed(0))

    def model_log_prob(x):
        return density.log_prob(x) - 0.1

    title = "CNF density, gaussian"
    fits_1d.density_fit_1d(title, train, density, model_log_prob, tmp_path / "fit.pdf")
    assert _is_pdf(tmp_path / "fit.pdf")
    (ax,) = saved[0].axes
    truth, model = ax.get_lines()
    grid = torch.tensor(np.asarray(truth.get_xdata()), dtype=torch.float32)[:, None]
    assert grid.min().item() == pytest.approx(train.min().item() - 2, abs=1e-5)
    assert grid.max().item() == pytest.approx(train.max().item() + 2, abs=1e-5)
    np.testing.assert_allclose(truth.get_ydata(), density.log_prob(grid).exp(), rtol=1e-5)
    np.testing.assert_allclose(model.get_ydata(), np.exp(-0.1) * truth.get_ydata(), rtol=1e-5)
    assert sorted(_legend(saved[0])) == ["model", "train histogram", "true density"]
    assert ax.get_title() == title
    assert len(ax.patches) == 80


def test_sample_paths_1d_one_line_per_trajectory(tmp_path, saved):
    paths = torch.randn(11, 4, 1)
    fits_1d.sample_paths_1d(paths, "paths", tmp_path / "p.pdf")
    assert _is_pdf(tmp_path / "p.pdf")
    (ax,) = saved[0].axes
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0].get_xdata(), np.linspace(0, 1, 11))
    np.testing.assert_allclose(lines[3].get_ydata(), paths[:, 3, 0].numpy())
    assert ax.get_title() == "paths"


def test_integrator_convergence_clips_exact_zeros(tmp_path, saved):
    conv = {"n_steps": [4, 8, 16], "errors": {"euler": [0.4, 0.2, 0.1], "rk4": [1e-3, 0.0, 1e-6]}}
    fits_1d.integrator_convergence(conv, "gaussian", tmp_path / "c.pdf")
    assert _is_pdf(tmp_path / "c.pdf")
    (ax,) = saved[0].axes
    euler, rk4 = ax.get_lines()
    np.testing.assert_array_equal(euler.get_ydata(), [0.4, 0.2, 0.1])
    np.testing.assert_array_equal(rk4.get_ydata(), [1e-3, 1e-16, 1e-6])  # log axis: no zero
    assert _legend(saved[0]) == ["euler", "rk4"]
    assert ax.get_title() == "CNF integrators, gaussian"


def _read_png(path) -> tuple[np.ndarray, float]:
    """Pixels (h, w) or (h, w, 3) as read back, and the printed width in inches."""
    with Image.open(path) as im:
        return np.asarray(im), im.size[0] / im.info["dpi"][0]


def test_tile_places_cells_row_by_row_with_white_gaps():
    cells = np.stack([np.full((2, 2, 1), v) for v in (0.25, 0.5, 0.75)])  # (3, 2, 2, 1)
    m = figure.tile(cells, 2)
    assert m.shape == (5, 5, 1)
    expected = np.array(
        [
            [0.25, 0.25, 1, 0.5, 0.5],
            [0.25, 0.25, 1, 0.5, 0.5],
            [1, 1, 1, 1, 1],
            [0.75, 0.75, 1, 1, 1],
            [0.75, 0.75, 1, 1, 1],
        ]
    )
    np.testing.assert_array_equal(m[..., 0], expected)
    assert figure.tile(np.zeros((2, 2, 2, 3)), 2, gap=3).shape == (2, 7, 3)


def test_image_grid_png_is_pixel_exact(tmp_path):
    # 2 classes x 3 images of 1 x 2 x 2 levels in 0..4; each level a k x k block of grey
    levels = np.arange(24).reshape(6, 1, 2, 2) % 5
    labels = np.array([1, 0, 1, 0, 1, 0])
    data.image_grid(levels.astype(np.uint8), labels, 5, tmp_path / "g.png", 3, width=1.0)
    pixels, width = _read_png(tmp_path / "g.png")
    grey = np.array([255, 191, 128, 64, 0])[levels[:, 0]]  # dark on white: level 4 is black
    native = np.full((2 * 3 - 1, 3 * 3 - 1), 255)  # white 1-pixel separators
    for row, cls in enumerate((0, 1)):  # one row per class, in label order
        for col, img in enumerate(grey[labels == cls]):
            native[3 * row : 3 * row + 2, 3 * col : 3 * col + 2] = img
    k = pixels.shape[1] // native.shape[1]
    assert k == int(np.ceil(figure.DPI * 1.0 / native.shape[1]))  # >= 300 dots per inch
    np.testing.assert_array_equal(pixels, np.repeat(np.repeat(native, k, 0), k, 1))
    assert width == pytest.approx(1.0, rel=1e-3)  # printed at its natural size
    with pytest.raises(ValueError, match="fewer than 4"):
        data.image_grid(levels.astype(np.uint8), labels, 5, tmp_path / "h.png", 4)


def test_image_panels_show_every_image_of_every_panel(tmp_path):
    # 5 panels of 5 images (1 x 3 x 3), 4 per mosaic row: mosaics of 2 x 4 images, 2 per row
    panels = {f"panel {k}": np.full((5, 1, 3, 3), -1.0 + 0.5 * k) for k in range(5)}
    sampling.image_panels(panels, tmp_path / "grid.png", n_panel_cols=2, grid_cols=4)
    assert _is_png(tmp_path / "grid.png")
    pixels, width = _read_png(tmp_path / "grid.png")
    mosaic = (2 * 4 - 1, 4 * 4 - 1)
    gap = sampling.PANEL_GAP
    native = (3 * mosaic[0] + 2 * gap, 2 * mosaic[1] + gap)  # 3 rows of 2 mosaics
    k = pixels.shape[0] // native[0]
    assert pixels.shape == (native[0] * k, native[1] * k)
    assert width == pytest.approx(sampling.IMAGE_IN * 2 * 4, rel=1e-3)
    small = pixels[::k, ::k]  # one pixel per block
    for j in range(5):
        r, q = divmod(j, 2)
        block = small[r * (mosaic[0] + gap) :, q * (mosaic[1] + gap) :][: mosaic[0], : mosaic[1]]
        cells = [block[4 * a : 4 * a + 3, 4 * b : 4 * b + 3] for a in range(2) for b in range(4)]
        ink = round(255 * (1 - 0.25 * j))  # model scale [-1, 1] -> [0, 1], dark on white
        assert sum((c == ink).all() for c in cells) == 5 or ink == 255  # all five images
    assert (small[2 * (mosaic[0] + gap) :, mosaic[1] :] == 255).all()  # the sixth slot is empty
    with pytest.raises(ValueError, match="same number of images"):
        sampling.image_panels(
            {"a": np.zeros((2, 1, 3, 3)), "b": np.zeros((3, 1, 3, 3))}, tmp_path / "x.png"
        )


def test_image_corruption_one_row_per_image_one_column_per_time(tmp_path):
    rows = np.linspace(-1, 1, 2 * 3 * 4).reshape(2, 3, 1, 2, 2)  # 2 images x 3 times, 2 x 2
    image_training.image_corruption(rows, [0.0, 0.5, 1.0], tmp_path / "c.png", width=1.5)
    pixels, width = _read_png(tmp_path / "c.png")
    k = pixels.shape[1] // (3 * 3 - 1)
    assert pixels.shape == ((2 * 3 - 1) * k, (3 * 3 - 1) * k)
    assert width == pytest.approx(1.5, rel=1e-3)
    ink = np.round(255 * (1 - (rows + 1) / 2)).astype(np.uint8)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(
                pixels[3 * k * i : 3 * k * i + 2 * k : k, 3 * k * j : 3 * k * j + 2 * k : k],
                ink[i, j, 0],
            )
    with pytest.raises(ValueError, match="for 2 times"):
        image_training.image_corruption(rows, [0.0, 1.0], tmp_path / "d.png")


def test_calibration_draws_every_series(tmp_path, saved):
    entries = [
        {"sigma": s, "kid": {"value": v, "ci_low": v - 0.001, "ci_high": v + 0.002}}
        for s, v in [(0.0, 0.0005), (0.05, 0.01), (0.1, 0.04)]
    ]
    rows = [{"n_images": n, "se": 0.01 / np.sqrt(n)} for n in (100, 400, 1600)]
    against_n = {"kid": rows, "best_vs_runner_up": [{**r, "se": 2 * r["se"]} for r in rows]}
    sampling.calibration(entries, against_n, tmp_path / "cal.pdf")
    assert _is_pdf(tmp_path / "cal.pdf")
    ax, ax2 = saved[0].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.05", "0.1"]
    (bars,) = ax.containers
    np.testing.assert_allclose(bars.lines[0].get_ydata(), [0.0005, 0.01, 0.04])
    assert len(ax2.get_lines()) == 4  # each series and its 1/sqrt(n) guide
    assert _legend(saved[0]) == ["kid", "best vs runner up", r"$\propto 1/\sqrt{n}$ guide"]
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


def test_datasets_overview_three_panels_per_row_and_every_point_shown(tmp_path, saved):
    rng = np.random.default_rng(0)
    grid = np.linspace(-3, 3, 50)
    one_d = {"gaussian": (rng.normal(size=(300, 1)), grid, np.exp(-(grid**2) / 2) / 2.5)}
    two_d = {f"set{k}": rng.normal(size=(3000, 2)) * (k + 1) + 10 * k for k in range(4)}
    data.datasets_overview(one_d, two_d, tmp_path / "d.pdf")
    assert _is_pdf(tmp_path / "d.pdf")
    axes = np.array(saved[0].axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes.flat[:5]] == ["gaussian (1D)"] + [
        f"set{k} (2D)" for k in range(4)
    ]
    assert not axes[1, 2].axison  # the sixth slot is empty
    for ax in axes.flat[1:5]:
        (cloud,) = ax.collections
        assert len(cloud.get_offsets()) == data.N_SCATTER and cloud.get_rasterized()
    assert _legend(saved[0]) == ["train histogram", "true density"]


def test_2d_point_clouds_share_one_box_around_every_point(tmp_path, saved):
    rng = np.random.default_rng(1)
    times = [0.0, 0.5, 1.0]
    true_x = [rng.normal(size=(50, 2)) * (1 + 4 * t) for t in times]
    generated = [x + 3.0 for x in true_x]  # off centre: a symmetric box would clip it
    flows_2d.path_vs_generated(true_x, generated, times, tmp_path / "pg.pdf")
    rows = {"linear": true_x, "cosine": generated}
    flows_2d.corruption_2d(rows, times, tmp_path / "c.pdf")
    samples = {f"s{k}": rng.normal(size=(40, 2)) + k for k in range(5)}
    flows_2d.samples_2d(samples, tmp_path / "s.pdf")
    for fig, clouds in zip(saved, ([*true_x, *generated], [*true_x, *generated], samples.values())):
        box = figure.square_box(list(clouds))
        for ax in fig.axes:
            assert ax.get_xlim() == pytest.approx(box[:2]) and ax.get_ylim() == pytest.approx(
                box[2:]
            )
    pg, corruption, sde = saved
    for ax, x in zip(pg.axes, [*true_x, *generated]):  # row by row
        np.testing.assert_allclose(ax.collections[0].get_offsets(), x)
    assert [ax.get_title() for ax in sde.axes] == list(samples)
    assert len(_rows(sde)) == 1  # five small multiples on one row, each >= 1.2 in wide


def test_trajectories_2d_wraps_four_panels_into_two_rows(tmp_path, saved):
    rng = np.random.default_rng(2)
    panels = {f"pair {k}": rng.normal(size=(11, 30, 2)).cumsum(0) for k in range(4)}
    panels_2d.trajectories_2d(panels, tmp_path / "t.pdf", n_lines=5)
    fig = saved[0]
    assert [len(r) for r in _rows(fig)] == [2, 2]
    for ax, p in zip(fig.axes, panels.values()):
        assert len(ax.get_lines()) == 5
        start, end = ax.collections
        np.testing.assert_allclose(start.get_offsets(), p[0])
        np.testing.assert_allclose(end.get_offsets(), p[-1])
    assert _legend(fig) == ["trajectory", "start (t = 0)", "end (t = 1)"]


def test_curves_against_nfe_sigma_and_iterations(tmp_path, saved):
    curves = {"euler": ([1, 2, 4], [0.3, 0.1, 0.0]), "rk4": ([4, 8, 16], [0.01, 0.002, 0.001])}
    panels_2d.metric_vs_nfe(curves, 0.001, "MMD to test", tmp_path / "n.pdf")
    flows_2d.metric_vs_sigma([0.0, 0.5, 1.0], [0.01, 0.02, 0.05], 0.001, "MMD", tmp_path / "s.pdf")
    flows_2d.loss_curves({"fm": [1.0] * 120, "score": [2.0] * 60}, tmp_path / "l.pdf", smooth=50)
    nfe, sigma, loss = saved
    euler, rk4, floor = nfe.axes[0].get_lines()
    np.testing.assert_array_equal(euler.get_ydata(), [0.3, 0.1, 1e-7])
    assert _legend(nfe) == ["euler", "rk4", "held-out vs test"]
    assert _legend(sigma) == ["generated vs test", "held-out vs test"]
    fm, score = loss.axes[0].get_lines()
    assert len(fm.get_xdata()) == 71 and fm.get_xdata()[0] == 50  # moving mean of 50
    for fig in saved:
        assert fig.get_size_inches()[0] == pytest.approx(figure.THIRD)


def test_cost_vs_steps_one_line_per_method_and_the_elbo(tmp_path, saved):
    rows = {"method": ["euler", "euler", "rk4", "rk4"], "T": [10, 20, 10, 20]}
    rows |= {"log_prob_s": [0.1, 0.2, 0.4, 0.8], "gradient_s": [0.3, 0.6, 1.2, 2.4]}
    complexity.cost_vs_steps(rows, 0.05, 0.15, tmp_path / "c.pdf")
    left, right = saved[0].axes
    np.testing.assert_array_equal(right.get_lines()[1].get_ydata(), [1.2, 2.4])
    assert list(left.get_lines()[2].get_ydata()) == [0.05, 0.05]
    assert _legend(saved[0]) == ["euler", "rk4", "SDE ELBO, 1 draw per point (any T)"]
    assert left.get_title() != right.get_title()


def _score(value, rng, n_groups=5):
    leave_out = value + 1e-4 * rng.standard_normal(n_groups)
    return SimpleNamespace(kid=KidScore(value, leave_out, 100, "ref"))


def test_kid_vs_nfe_distinct_styles_and_one_legend_entry_each(tmp_path, saved):
    rng = np.random.default_rng(3)
    runs, scores = [], {}
    for s in ("linear", "cosine"):
        runs.append(_run("exact", 100))
        runs[-1] = Run(s, "exact", 100, runs[-1].images, 0.0)
        scores[(s, "exact")] = _score(0.002, rng)
        for sampler, nfe, sigma in (("euler", 5, None), ("euler", 10, None), ("sde", 20, 0.5)):
            r = Run(
                s, sampler, nfe, runs[0].images, 0.0, nfe, sigma, 0.1 if sigma is None else None
            )
            runs.append(r)
            scores[(s, r.key)] = _score(0.002 + 0.01 / nfe, rng)
    sampling.kid_vs_nfe(runs, scores, _score(0.0015, rng), tmp_path / "k.pdf", 0.95)
    ax, ax2 = saved[0].axes
    labels = _legend(saved[0])
    assert len(labels) == len(set(labels))
    assert labels[:4] == ["euler", "SDE σ = 0.5", "schedule linear", "schedule cosine"]
    assert labels[-2:] == ["real vs real, linear", "real vs real, cosine"]
    bands = list(ax.patches)  # the two axhspans
    assert len(bands) == 2
    assert (bands[0].get_hatch(), bands[0].get_linestyle()) != (
        bands[1].get_hatch(),
        bands[1].get_linestyle(),
    )
    low, high = ax.get_ylim()
    for bars in ax.containers:  # every interval whole, caps included
        (segments,) = [c.get_segments() for c in bars.lines[2]]
        assert all(low <= y <= high for seg in segments for _, y in seg)
    styles = {(ln.get_color(), ln.get_linestyle()) for ln in ax2.get_lines()}
    assert len(styles) == 2  # euler on each schedule: one colour, two line styles


def test_grids_refuse_fewer_images_than_the_grid_shows():
    runs = [_run("exact", 300), _run("euler", 10, 10)]
    with pytest.raises(ValueError, match="grid.n_images = 5"):
        sampling.grids(runs, n_levels=8, n_images=5, nfe=10, sde_n_steps=100)


def test_score_sde_kid_vs_nfe_every_sampler_and_a_legend_of_kinds(tmp_path, saved):
    from lib.images.score_sde_sampling import Cell
    from lib.metrics.sample_reference import FlowReference

    rng = np.random.default_rng(4)
    images = np.zeros((4, 1, 2, 2), dtype=np.uint8)
    cells, scores = {}, {}
    for sde in ("ve", "vp"):
        for sampler in ("ancestral_sampling", "probability_flow"):
            for variant, nfe in (("p_n", 10), ("p_2n", 20), ("pc_n", 20)):
                cells[(sde, sampler, variant)] = Cell(sde, sampler, variant, 10, nfe, 0.0, images)
                scores[(sde, sampler, variant)] = _score(0.003, rng)
        cells[(sde, "corrector_only", "c_2n")] = Cell(
            sde, "corrector_only", "c_2n", 20, 20, 0.0, images
        )
        scores[(sde, "corrector_only", "c_2n")] = _score(0.06, rng)  # far above the rest
        cells[(sde, "probability_flow_adaptive", "adaptive")] = Cell(
            sde, "probability_flow_adaptive", "adaptive", None, 15.5, 0.0, images
        )
        scores[(sde, "probability_flow_adaptive", "adaptive")] = _score(0.004, rng)
    kid = {"value": 0.002, "ci_low": 0.001, "ci_high": 0.003}
    flow = FlowReference([{"sampler": m, "nfe": 5, "kid": kid} for m in ("euler", "sde")], {}, None)
    score_sde.kid_vs_nfe(cells, scores, flow, _score(0.0, rng), tmp_path / "k.pdf", 0.95)
    (ax,) = saved[0].axes
    labels = _legend(saved[0])
    assert len(labels) == len(set(labels))
    assert {"flow euler", "flow sde", "ancestral sampling", "probability flow", "VE", "VP"} <= set(
        labels
    )
    assert {"P (N, 2N)", "PC", "C only", "adaptive ODE"} <= set(labels)
    # per SDE: a P N -> P 2N line per predictor, PC per predictor, C and adaptive; two flow runs
    assert len(ax.containers) == 2 * (2 + 2 + 2) + 2
    low, high = ax.get_ylim()
    for bars in ax.containers:  # every interval on the axes, the C-only outliers included
        (segments,) = [c.get_segments() for c in bars.lines[2]]
        assert all(low <= y <= high for seg in segments for _, y in seg)


def test_ddls_curves_one_line_per_chain_family(tmp_path, saved):
    def kid(v):
        return {"value": v, "ci_low": v - 0.001, "ci_high": v + 0.001}

    curves = {
        f"{kind}_{eps}": {
            "step_size": eps,
            "mala": kind == "mala",
            "by_k": [{"k": k, "kid": kid(0.01 / (1 + k))} for k in (0, 5, 20)],
            "energy": list(np.linspace(10, 5, 21)),
            "logit": list(np.linspace(-1, 1, 21)),
        }
        for kind, eps in (("ula", 0.01), ("ula", 0.1), ("mala", 0.01))
    }
    ddls.kid_vs_steps(curves, {"kid": kid(0.0)}, tmp_path / "k.pdf", 0.95)
    ddls.chains(curves, tmp_path / "e.pdf")
    (ax,) = saved[0].axes
    assert len(ax.containers) == 3  # one errorbar line per chain family
    labels = _legend(saved[0])
    assert len(labels) == len(set(labels)) == 4 and "MALA, $\\epsilon_0 = 0.01$" in labels
    left, right = saved[1].axes
    assert len(left.get_lines()) == len(right.get_lines()) == 3
    assert [ln.get_linestyle() for ln in left.get_lines()] == ["-", "-", "--"]
