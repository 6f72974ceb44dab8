"""Fixed-step ODE solvers (euler, rk2, heun, rk4) and the Euler–Maruyama SDE solver.

Every solver takes a field `f(x, t)` with x of shape (batch, ...) and t a 0-dim tensor, and a
time grid (n_steps + 1,) that may run forwards or backwards. Nothing here knows about training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OdeMethod = Literal["euler", "rk2", "heun", "rk4"]


def euler_step(f: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """x + h f(x, t): first order."""
    return x + h * f(x, t)


def rk2_step(f: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Explicit midpoint rule: second order, two evaluations."""
    k1 = f(x, t)
    return x + h * f(x + 0.5 * h * k1, t + 0.5 * h)


def heun_step(f: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Heun's rule (explicit trapezoid): second order, two evaluations."""
    k1 = f(x, t)
    k2 = f(x + h * k1, t + h)
    return x + 0.5 * h * (k1 + k2)


def rk4_step(f: Field, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Classical Runge–Kutta: fourth order, four evaluations."""
    k1 = f(x, t)
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


ODE_STEPS: dict[str, Callable[..., torch.Tensor]] = {
    "euler": euler_step,
    "rk2": rk2_step,
    "heun": heun_step,
    "rk4": rk4_step,
}
EVALS_PER_STEP = {"euler": 1, "rk2": 2, "heun": 2, "rk4": 4}


def ode_step_fn(method: str) -> Callable[..., torch.Tensor]:
    """Look up a step function by name; raises with the allowed names."""
    if method not in ODE_STEPS:
        raise ValueError(f"unknown ODE method {method!r}; allowed: {sorted(ODE_STEPS)}")
    return ODE_STEPS[method]


def time_grid(
    t0: float, t1: float, n_steps: int, device: torch.device | str = "cpu", dtype=torch.float32
) -> torch.Tensor:
    """Uniform grid of n_steps + 1 times from t0 to t1 (t1 < t0 integrates backwards)."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps}")
    return torch.linspace(t0, t1, n_steps + 1, device=device, dtype=dtype)


def odeint(
    f: Field, x0: torch.Tensor, t_grid: torch.Tensor, method: str = "rk4", return_path: bool = False
) -> torch.Tensor:
    """Integrate dx/dt = f(x, t) over t_grid. Returns x(t_grid[-1]), or the path (n_t, *x.shape)."""
    step = ode_step_fn(method)
    x = x0
    path = [x] if return_path else None
    for t, t_next in zip(t_grid[:-1], t_grid[1:], strict=True):
        x = step(f, x, t, t_next - t)
        if path is not None:
            path.append(x)
    return torch.stack(path) if path is not None else x


def euler_maruyama(
    drift: Field,
    diffusion: Field,
    x0: torch.Tensor,
    t_grid: torch.Tensor,
    generator: torch.Generator | None = None,
    return_path: bool = False,
) -> torch.Tensor:
    """Simulate dX = drift dt + diffusion dW (diagonal noise) on a forward grid.

    X_{k+1} = X_k + h u(X_k, t_k) + sqrt(h) sigma(X_k, t_k) eps_k, eps_k ~ N(0, I).
    Returns the final state, or the whole path (n_t, *x0.shape).
    """
    x = x0
    path = [x] if return_path else None
    for t, t_next in zip(t_grid[:-1], t_grid[1:], strict=True):
        h = t_next - t
        if h <= 0:
            raise ValueError("euler_maruyama needs an increasing time grid")
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = x + h * drift(x, t) + torch.sqrt(h) * diffusion(x, t) * noise
        if path is not None:
            path.append(x)
    return torch.stack(path) if path is not None else x
