"""The Langevin step and the score drift against known answers: the formula, gradient ascent
without noise, and the stationary law of the unadjusted Langevin algorithm on N(0, 1)."""

import math

import pytest
import torch

from lib.data.densities import gaussian
from lib.sde.langevin import langevin_step, score_drift
from lib.sde.processes import Langevin
from lib.sde.solvers import euler_maruyama, time_grid

F64 = torch.float64


def test_score_drift_is_half_the_squared_diffusion_times_the_score():
    gen = torch.Generator().manual_seed(0)
    score = torch.randn(5, 3, generator=gen)
    assert torch.equal(score_drift(score, 0.7**2), 0.5 * 0.7**2 * score)
    g = torch.rand(5, 1, generator=gen)  # a per-row diffusion broadcasts
    assert torch.equal(score_drift(score, g**2), 0.5 * g**2 * score)
    assert score_drift(torch.tensor([2.0]), 4.0).item() == 4.0


def test_langevin_process_drift_is_the_score_drift():
    target = gaussian(1.0, 0.5)
    x = torch.linspace(-2, 3, 11)[:, None]
    drift = Langevin(target, sigma=1.3).drift(x, torch.tensor(0.0))
    assert torch.equal(drift, score_drift(target.score(x), 1.3**2))
    assert torch.allclose(drift, 0.5 * 1.3**2 * -(x - 1.0) / 0.25, atol=1e-5)


def test_step_without_noise_is_gradient_ascent():
    """x + h grad log p: on N(mu, s^2) each step contracts x - mu by (1 - h / s^2) exactly."""
    mu, s, h = 2.0, 0.5, 0.05
    x = torch.linspace(-3, 3, 7, dtype=F64)
    score = -(x - mu) / s**2
    x1 = langevin_step(x, score, h, torch.zeros_like(x))
    assert torch.equal(x1, x + h * score)
    for _ in range(200):
        x = langevin_step(x, -(x - mu) / s**2, h, torch.zeros_like(x))
    assert torch.allclose(
        x - mu, (torch.linspace(-3, 3, 7, dtype=F64) - mu) * (1 - h / s**2) ** 200
    )
    assert torch.allclose(x, torch.full_like(x, mu), atol=1e-12)  # the mode


@pytest.mark.parametrize("h", [0.01, 0.1])
def test_unadjusted_langevin_keeps_n01_up_to_its_step_bias(h):
    """With the exact score -x, x' = (1 - h) x + sqrt(2h) eps has the stationary law
    N(0, 1 / (1 - h / 2)): N(0, 1) is kept up to a variance bias h / 2 (0.5% at h = 0.01)."""
    n = 100_000
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, generator=gen, dtype=F64)  # start at the target
    for _ in range(300):
        x = langevin_step(x, -x, h, torch.randn(n, generator=gen, dtype=F64))
    var_star = 1 / (1 - h / 2)
    se = math.sqrt(2 / n) * var_star  # s.e. of a sample variance: 0.45%
    assert abs(x.var().item() - var_star) < 4 * se
    assert abs(x.mean().item()) < 4 * math.sqrt(var_star / n)
    if h == 0.01:
        assert abs(x.var().item() - 1.0) < h / 2 + 4 * se


def test_step_is_euler_maruyama_on_the_langevin_process_with_sigma_sqrt2():
    """dX = grad log p dt + sqrt(2) dW: one Euler–Maruyama step of h is one Langevin step of h."""
    target = gaussian(0.5, 0.8)
    process = Langevin(target, sigma=math.sqrt(2.0))
    x0 = torch.linspace(-2, 2, 9, dtype=F64)[:, None]
    h = 0.03
    x_em = euler_maruyama(
        process.drift,
        process.diffusion,
        x0,
        time_grid(0.0, h, 1, dtype=F64),
        torch.Generator().manual_seed(4),
    )
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4), dtype=F64)
    x_step = langevin_step(x0, target.score(x0), h, noise)
    assert torch.allclose(x_em, x_step, rtol=1e-6, atol=1e-6)
