"""The adaptive solve against closed-form solutions: its error follows the tolerance, and it
counts its evaluations."""

import math

import pytest
import torch

from lib.sde.adaptive_solver import solve_adaptive


def rotation(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """dx/dt = (1 + t) J x, J the 90-degree rotation: x(1) = R(1.5) x(0), R(a) by angle a."""
    return (1 + t) * torch.stack([-x[:, 1], x[:, 0]], dim=1)


def test_solution_error_follows_the_tolerance():
    x0 = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = 1.5  # the angle int_0^1 (1 + t) dt
    exact = torch.stack(
        [
            math.cos(a) * x0[:, 0] - math.sin(a) * x0[:, 1],
            math.sin(a) * x0[:, 0] + math.cos(a) * x0[:, 1],
        ],
        dim=1,
    )
    errors, nfes = [], []
    for tol in (1e-3, 1e-6, 1e-9):
        sol = solve_adaptive(rotation, x0, rtol=tol, atol=tol)
        errors.append((sol.x - exact).abs().max().item())
        nfes.append(sol.nfe)
    # Local error control: the global error stays within ~100x the tolerance, and a tighter
    # tolerance costs more evaluations (dopri5: 6 per accepted step, FSAL).
    assert errors[0] < 1e-1 and errors[1] < 1e-4 and errors[2] < 1e-7, errors
    assert errors[2] < errors[1] < errors[0]
    assert nfes[0] < nfes[1] < nfes[2], nfes


def test_linear_decay_and_backwards_time():
    x0 = torch.ones(3, 4, dtype=torch.float64)
    sol = solve_adaptive(lambda x, t: -2 * x, x0, 0.0, 1.0, rtol=1e-8, atol=1e-8)
    assert torch.allclose(sol.x, x0 * math.exp(-2), rtol=1e-6)
    back = solve_adaptive(lambda x, t: -2 * x, sol.x, 1.0, 0.0, rtol=1e-8, atol=1e-8)
    assert torch.allclose(back.x, x0, rtol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown adaptive method 'rk45'"):
        solve_adaptive(rotation, torch.zeros(1, 2), method="rk45")
    with pytest.raises(ValueError, match="rtol and atol must be positive"):
        solve_adaptive(rotation, torch.zeros(1, 2), rtol=0.0)


def test_counted_evaluations_and_default_tolerance_in_float64():
    """dx/dt = -x from 1: the count equals the calls the field saw; the defaults (1e-5) give an
    error of that order, in float64 throughout (a float32 time grid would cap it near 1e-7)."""
    calls = []

    def f(x, t):
        calls.append(t.dtype)
        return -x

    x0 = torch.ones(3, dtype=torch.float64)
    sol = solve_adaptive(f, x0)
    assert sol.nfe == len(calls) and all(d == torch.float64 for d in calls)
    error = (sol.x - math.exp(-1)).abs().max().item()
    assert 1e-9 < error < 1e-4
    tight = solve_adaptive(f, x0, rtol=1e-12, atol=1e-12)
    assert (tight.x - math.exp(-1)).abs().max().item() < 1e-10
    for rtol, atol in [(1e-3, 0.0), (0.0, 1e-3)]:
        with pytest.raises(ValueError, match="must be positive"):
            solve_adaptive(f, x0, rtol=rtol, atol=atol)


def test_the_method_asked_for_is_the_one_used():
    """bosh3 (order 3) needs more evaluations than dopri5 (order 5) at the same tolerance."""
    x0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    nfe = {
        m: solve_adaptive(rotation, x0, method=m, rtol=1e-8, atol=1e-8).nfe
        for m in ("dopri5", "bosh3")
    }
    assert nfe["bosh3"] > 1.5 * nfe["dopri5"], nfe
