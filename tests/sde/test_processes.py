"""Brownian motion and OU marginals from Euler–Maruyama against their exact Gaussian laws."""

import pytest
import torch

from lib.data.densities import gaussian
from lib.sde.processes import BrownianMotion, Langevin, OrnsteinUhlenbeck
from lib.sde.solvers import euler_maruyama, time_grid

N_PATHS = 20000


def _simulate(process, x0: float, t1: float, n_steps: int, seed: int = 0) -> torch.Tensor:
    x = torch.full((N_PATHS, 1), x0, dtype=torch.float64)
    grid = time_grid(0.0, t1, n_steps, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    return euler_maruyama(process.drift, process.diffusion, x, grid, gen, return_path=True)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0])
def test_brownian_variance_is_sigma2_t(sigma):
    bm = BrownianMotion(sigma)
    path = _simulate(bm, 0.0, 2.0, 100)
    for k, t in [(25, 0.5), (50, 1.0), (100, 2.0)]:
        # Relative std error of a sample variance is sqrt(2 / N) = 1%; 4 sigma tolerance.
        assert path[k].var().item() == pytest.approx(bm.variance(t), rel=0.04)
        assert path[k].mean().item() == pytest.approx(
            0.0, abs=4 * (bm.variance(t) / N_PATHS) ** 0.5
        )


@pytest.mark.parametrize(("theta", "x0"), [(0.5, 4.0), (2.0, -3.0)])
def test_ou_transient_mean_and_variance(theta, x0):
    ou = OrnsteinUhlenbeck(theta, sigma=(2 * theta * 0.8) ** 0.5)  # D = 0.8
    path = _simulate(ou, x0, 4.0, 2000)
    for k in [250, 1000, 2000]:
        t = 4.0 * k / 2000
        assert path[k].mean().item() == pytest.approx(ou.mean(x0, t), abs=0.03)
        assert path[k].var().item() == pytest.approx(ou.variance(t), rel=0.05)
    assert ou.stationary_variance == pytest.approx(0.8)


def test_ou_is_langevin_for_its_stationary_gaussian():
    ou = OrnsteinUhlenbeck(theta=1.7, sigma=0.9)
    langevin = Langevin(gaussian(0.0, ou.stationary_variance**0.5), sigma=0.9)
    x = torch.linspace(-3, 3, 13)[:, None]
    assert torch.allclose(
        langevin.drift(x, torch.tensor(0.0)), ou.drift(x, torch.tensor(0.0)), atol=1e-6
    )
