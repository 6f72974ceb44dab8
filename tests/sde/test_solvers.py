"""Solver orders of convergence on ODEs with known solutions, and Euler–Maruyama moments."""

import math

import numpy as np
import pytest
import torch

from lib.sde.solvers import EVALS_PER_STEP, euler_maruyama, odeint, time_grid


def _decay_rotation(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """dx/dt = -t x: x(t) = x0 exp(-t^2 / 2); time-dependent so step rules must place t right."""
    return -t * x


def _observed_order(method: str, t0: float = 0.0, t1: float = 2.0) -> float:
    x0 = torch.tensor([[1.0], [-0.5]], dtype=torch.float64)
    exact = x0 * math.exp(-(t1**2 - t0**2) / 2)
    steps = [8, 16, 32, 64]
    errors = []
    for n in steps:
        grid = time_grid(t0, t1, n, dtype=torch.float64)
        errors.append((odeint(_decay_rotation, x0, grid, method) - exact).abs().max().item())
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    return -slope


@pytest.mark.parametrize(("method", "order"), [("euler", 1), ("rk2", 2), ("heun", 2), ("rk4", 4)])
def test_orders_of_convergence(method, order):
    assert _observed_order(method) == pytest.approx(order, abs=0.15)


@pytest.mark.parametrize("method", ["euler", "rk2", "heun", "rk4"])
def test_backward_integration_inverts_forward(method):
    x0 = torch.randn(5, 3, dtype=torch.float64)
    fwd = odeint(_decay_rotation, x0, time_grid(0.0, 1.0, 200, dtype=torch.float64), method)
    back = odeint(_decay_rotation, fwd, time_grid(1.0, 0.0, 200, dtype=torch.float64), method)
    assert torch.allclose(back, x0, atol=1e-2 if method == "euler" else 1e-6)


def test_return_path_shape_and_endpoints():
    x0 = torch.ones(4, 2)
    grid = time_grid(0.0, 1.0, 10)
    path = odeint(lambda x, t: x, x0, grid, "rk4", return_path=True)
    assert path.shape == (11, 4, 2)
    assert torch.equal(path[0], x0)
    assert torch.allclose(path[-1], x0 * math.e, rtol=1e-5)
    assert EVALS_PER_STEP["rk4"] == 4


def test_unknown_method_and_bad_steps():
    with pytest.raises(ValueError, match="allowed"):
        odeint(lambda x, t: x, torch.ones(1), time_grid(0, 1, 2), "rk3")
    with pytest.raises(ValueError, match="n_steps"):
        time_grid(0, 1, 0)


def test_euler_maruyama_ou_stationary_moments():
    theta, sigma = 2.0, 1.5
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 3.0, dtype=torch.float64)
    x = euler_maruyama(
        lambda x, t: -theta * x,
        lambda x, t: torch.full_like(x, sigma),
        x0,
        time_grid(0.0, 5.0, 1000, dtype=torch.float64),
        generator=gen,
    )
    stationary = sigma**2 / (2 * theta)
    # Std error of the mean is sqrt(0.5625/20000) = 0.0053; of the variance ~ 0.0056.
    assert x.mean().item() == pytest.approx(0.0, abs=0.02)
    # Euler–Maruyama's stationary variance has an O(h) bias: D / (1 - theta h) here (~0.2%).
    assert x.var().item() == pytest.approx(stationary, rel=0.03)


def test_euler_maruyama_is_seeded_and_zero_noise_is_euler():
    grid = time_grid(0.0, 1.0, 50)
    x0 = torch.zeros(100, 2)
    drift = lambda x, t: torch.ones_like(x)  # noqa: E731
    a = euler_maruyama(
        drift, lambda x, t: torch.ones_like(x), x0, grid, torch.Generator().manual_seed(1)
    )
    b = euler_maruyama(
        drift, lambda x, t: torch.ones_like(x), x0, grid, torch.Generator().manual_seed(1)
    )
    assert torch.equal(a, b)
    c = euler_maruyama(drift, lambda x, t: torch.zeros_like(x), x0, grid)
    assert torch.allclose(c, odeint(drift, x0, grid, "euler"))


def test_euler_maruyama_draws_its_noise_in_the_state_dtype_and_refuses_flat_steps():
    """Zero drift, unit diffusion: each increment is sqrt(h) times the generator's next N(0, 1)
    draw, drawn in float64 for a float64 state; a repeated time (h = 0) is refused."""
    x0 = torch.zeros(4, 2, dtype=torch.float64)
    grid = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    one = lambda x, t: torch.ones_like(x)  # noqa: E731
    path = euler_maruyama(zero, one, x0, grid, torch.Generator().manual_seed(0), True)
    g = torch.Generator().manual_seed(0)
    eps = [torch.randn(4, 2, generator=g, dtype=torch.float64) for _ in range(2)]
    torch.testing.assert_close(path[1], 0.5 * eps[0], rtol=0, atol=1e-15)
    torch.testing.assert_close(path[2] - path[1], math.sqrt(0.75) * eps[1], rtol=0, atol=1e-15)
    flat = torch.tensor([0.0, 0.5, 0.5, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="increasing time grid"):
        euler_maruyama(zero, one, x0, flat, torch.Generator().manual_seed(0))
