"""Every density integrates to one, its score is grad log p, and sampling matches log_prob."""

import math

import pytest
import torch

from lib.data import densities as D

DENSITIES_1D = {
    "gaussian": D.gaussian(-1.0, 2.0),
    "gaussian_mixture": D.gaussian_mixture(
        [[-2.0], [1.0], [3.0]], [0.5, 1.0, 0.3], [0.2, 0.5, 0.3]
    ),
    "laplace_mixture": D.laplace_mixture([-8, -4, 0, 4, 8], 1.0),
}
DENSITIES_2D = {
    "gaussian_2d": D.gaussian([1.0, -1.0], [0.5, 2.0], dim=2),
    "gmm5_circle": D.gaussians_on_circle(5, 10.0, 1.0),
    "gmm8_circle": D.gaussians_on_circle(8, 4.0, 0.5),
    "rings": D.rings([1.0, 2.5, 4.0], 0.3),
    "checkerboard": D.checkerboard(4.0, 4),
    "box": D.uniform_box([-5.0, -2.0], [-1.0, 3.0]),
}
SMOOTH = [
    "gaussian",
    "gaussian_mixture",
    "laplace_mixture",
    "gaussian_2d",
    "gmm5_circle",
    "gmm8_circle",
    "rings",
]
ALL = {**DENSITIES_1D, **DENSITIES_2D}


def _grid_2d(n: int = 1500, lim: float = 15.0) -> tuple[torch.Tensor, float]:
    """Midpoint-rule nodes (n^2, 2) on [-lim, lim]^2 and the cell area."""
    h = 2 * lim / n
    c = -lim + h * (torch.arange(n) + 0.5)
    return torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2), h * h


@pytest.mark.parametrize("name", DENSITIES_1D)
def test_1d_log_prob_integrates_to_one(name):
    x = torch.linspace(-40, 40, 400_001, dtype=torch.float64)[:, None]
    p = DENSITIES_1D[name].log_prob(x.float()).double().exp()
    assert torch.trapezoid(p, x[:, 0]).item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", DENSITIES_2D)
def test_2d_log_prob_integrates_to_one(name):
    # Midpoint rule; the edges of the box and the board fall on cell boundaries.
    grid, area = _grid_2d()
    mass = DENSITIES_2D[name].log_prob(grid).exp().sum().item() * area
    assert mass == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("name", SMOOTH)
def test_score_is_autograd_of_log_prob(name):
    density = ALL[name]
    x = density.sample(64, torch.Generator().manual_seed(0)).double().float().requires_grad_()
    (grad,) = torch.autograd.grad(density.log_prob(x).sum(), x)
    assert torch.allclose(density.score(x.detach()), grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["checkerboard", "box"])
def test_piecewise_constant_score_is_zero_on_support(name):
    density = ALL[name]
    x = density.sample(256, torch.Generator().manual_seed(0))
    assert torch.isfinite(density.log_prob(x)).all()
    assert torch.equal(density.score(x), torch.zeros_like(x))


@pytest.mark.parametrize("name", ALL)
def test_samples_follow_log_prob(name):
    """Sample mean of log p equals the exact expectation (quadrature) within Monte Carlo error."""
    density = ALL[name]
    x = density.sample(100_000, torch.Generator().manual_seed(1))
    assert x.shape == (100_000, density.dim)
    lp = density.log_prob(x)
    assert torch.isfinite(lp).all()
    if density.dim == 1:
        g = torch.linspace(-40, 40, 400_001)[:, None]
        lpg = density.log_prob(g).double()
        expected = torch.trapezoid(lpg.exp() * lpg, g[:, 0].double()).item()
    else:
        grid, area = _grid_2d()
        lpg = density.log_prob(grid).double()
        p = lpg.exp()
        expected = (torch.where(p > 0, p * lpg, 0.0)).sum().item() * area
    stderr = lp.double().std().item() / math.sqrt(len(lp))
    assert lp.double().mean().item() == pytest.approx(expected, abs=5 * stderr + 2e-3)


def test_reference_expected_log_likelihoods():
    # Gaussian(-1, 2): E log p = -0.5 log(2 pi 4) - 0.5.
    g = DENSITIES_1D["gaussian"]
    assert -0.5 * math.log(2 * math.pi * 4) - 0.5 == pytest.approx(-2.112, abs=1e-3)
    x = g.sample(200_000, torch.Generator().manual_seed(2))
    assert g.log_prob(x).mean().item() == pytest.approx(-2.112, abs=0.01)


def test_moons_sample_only_and_seeded():
    moons = D.TwoMoons(noise=0.05, scale=2.0)
    a = moons.sample(500, torch.Generator().manual_seed(3))
    b = moons.sample(500, torch.Generator().manual_seed(3))
    assert a.shape == (500, 2) and torch.equal(a, b)
    assert not hasattr(moons, "log_prob")


def test_to_moves_parameters():
    m = D.gaussians_on_circle(5, 10.0, 1.0).to("cpu")
    assert m.components[0].mean.device.type == "cpu"


@pytest.mark.parametrize("name", DENSITIES_1D)
def test_cdf_is_integral_of_density(name):
    density = DENSITIES_1D[name]
    x = torch.linspace(-40, 40, 200_001, dtype=torch.float64)[:, None]
    p = density.log_prob(x.float()).double().exp()
    cum = torch.cumulative_trapezoid(p, x[:, 0])
    idx = torch.tensor([50_000, 90_000, 100_000, 130_000])
    assert torch.allclose(density.cdf(x[idx].float()).double(), cum[idx - 1], atol=1e-4)
