"""Samplers from t = 0 (noise) to t = 1 (data) given a velocity (and score) function f(x, t).

The functions take t as a 0-dim tensor, as `lib.solvers` passes it; all integration is done by
`lib.solvers` (`odeint`, `euler_maruyama`) on a uniform grid of n_steps steps, under no_grad (a
field that differentiates internally, e.g. a score from an energy, must enable grad itself).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lib.sde.langevin import score_drift
from lib.sde.solvers import EVALS_PER_STEP, ODE_STEPS, Field, euler_maruyama, odeint, time_grid

Sigma = float | Callable[[torch.Tensor], float | torch.Tensor]
SDE_EVALS_PER_STEP = 2  # one velocity and one score evaluation per Euler–Maruyama step


def ode_sample(
    velocity: Field,
    x0: torch.Tensor,
    n_steps: int,
    method: str = "euler",
    return_path: bool = False,
) -> torch.Tensor:
    """Solve dx/dt = u(x, t) from x0 at t = 0 to t = 1: x_1 (n, ...), or the path
    (n_steps + 1, n, ...). No graph is kept."""
    grid = time_grid(0.0, 1.0, n_steps, x0.device, x0.dtype)
    with torch.no_grad():
        return odeint(velocity, x0, grid, method, return_path)


def sde_sample(
    velocity: Field,
    score: Field,
    sigma: Sigma,
    x0: torch.Tensor,
    n_steps: int,
    generator: torch.Generator | None = None,
    return_path: bool = False,
) -> torch.Tensor:
    """Euler–Maruyama on dX = [u(X, t) + g_t^2 / 2 s(X, t)] dt + g_t dW from t = 0 to 1.

    The score term (`lib.sde.langevin.score_drift`) adds exactly the drift that cancels the
    diffusion in the Fokker–Planck equation, so every g_t leaves the marginals p_t of the ODE
    unchanged; g = 0 is Euler on the ODE. sigma: the diffusion g_t, a float or a function of the
    0-dim t. Euler–Maruyama evaluates u and s at t_0 .. t_{n-1} only, never at t = 1 where a score
    from noise (-eps / sigma_t, the path's noise scale) is infinite. The generator must be on x0's
    device (the noise is drawn there).
    """
    if generator is not None and torch.device(generator.device) != x0.device:
        raise ValueError(
            f"generator is on {generator.device} but x0 is on {x0.device}; "
            "create the generator on x0's device"
        )
    sigma_fn = sigma if callable(sigma) else (lambda t: sigma)

    def drift(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return velocity(x, t) + score_drift(score(x, t), sigma_fn(t) ** 2)

    def diffusion(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # broadcasts over x
        return torch.as_tensor(sigma_fn(t), device=x.device, dtype=x.dtype)

    grid = time_grid(0.0, 1.0, n_steps, x0.device, x0.dtype)
    with torch.no_grad():
        return euler_maruyama(drift, diffusion, x0, grid, generator, return_path)


DIFFUSIONS = ("scaled", "constant")


def diffusion(kind: str, sigma: float, path_sigma: Callable[[torch.Tensor], torch.Tensor]) -> Sigma:
    """The SDE sampler's diffusion g_t: "constant" g = sigma, or "scaled" g_t = sigma * sigma_t
    with sigma_t = path_sigma(t) the path's noise scale, which vanishes at the data end t = 1.
    There the score is ~ -eps / sigma_t, so the drift term g_t^2 s / 2 = -sigma^2 sigma_t eps / 2
    stays bounded and the last steps add no noise that the flow could not remove; a constant g
    leaves noise of size sigma sqrt(dt) on the samples."""
    if kind == "constant":
        return sigma
    if kind == "scaled":
        return lambda t: sigma * path_sigma(t)
    raise ValueError(f"unknown diffusion {kind!r}; allowed: {list(DIFFUSIONS)}")


def _ode_sampler(method: str) -> Callable[..., torch.Tensor]:
    def run(velocity, x0, n_steps, *, score=None, sigma=0.0, generator=None, return_path=False):
        return ode_sample(velocity, x0, n_steps, method, return_path)  # deterministic given x0

    return run


def _em_sampler(velocity, x0, n_steps, *, score=None, sigma=0.0, generator=None, return_path=False):
    if score is None:
        raise ValueError("the 'em' sampler needs a score function")
    return sde_sample(velocity, score, sigma, x0, n_steps, generator, return_path)


# Every entry takes (velocity, x0, n_steps, *, score, sigma, generator, return_path).
SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    **{method: _ode_sampler(method) for method in ODE_STEPS},
    "em": _em_sampler,
}


def sample(
    name: str,
    velocity: Field,
    x0: torch.Tensor,
    n_steps: int,
    *,
    score: Field | None = None,
    sigma: Sigma = 0.0,
    generator: torch.Generator | None = None,
    return_path: bool = False,
) -> torch.Tensor:
    """Run the sampler `name` ("euler", "rk2", "heun", "rk4": the ODE; "em": the SDE)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; allowed: {sorted(SAMPLERS)}")
    return SAMPLERS[name](
        velocity,
        x0,
        n_steps,
        score=score,
        sigma=sigma,
        generator=generator,
        return_path=return_path,
    )


def nfe(method: str, n_steps: int) -> int:
    """Function evaluations of a sampler run: ODE methods per `lib.solvers.EVALS_PER_STEP`;
    "em" counts 2 per step, one velocity and one score evaluation (separate networks or heads)."""
    if method == "em":
        return SDE_EVALS_PER_STEP * n_steps
    if method not in EVALS_PER_STEP:
        raise ValueError(f"unknown sampler {method!r}; allowed: {sorted(SAMPLERS)}")
    return EVALS_PER_STEP[method] * n_steps


def straightness(path_x: torch.Tensor) -> torch.Tensor:
    """E[sum_k |dx_k|^2 / dt - |x_1 - x_0|^2] for a path (n_steps + 1, n, ...) on a uniform grid
    over [0, 1]: the kinetic energy in excess of a straight constant-speed path (rectified flow),
    the mean of `straightness_per_point`."""
    return straightness_per_point(path_x).mean()


def straightness_per_point(path_x: torch.Tensor) -> torch.Tensor:
    """(n,): each trajectory's sum_k |dx_k|^2 / dt - |x_1 - x_0|^2, for a path (n_steps + 1, n, ...)
    on a uniform grid over [0, 1].

    By Cauchy–Schwarz it is >= 0, zero iff every step moves by dt (x_1 - x_0). Computed as
    sum_k |dx_k - dt (x_1 - x_0)|^2 / dt (the same number), which cannot go negative by rounding.
    """
    n_steps = path_x.shape[0] - 1
    if n_steps < 1:
        raise ValueError(f"straightness needs a path of at least 2 points, got {path_x.shape[0]}")
    dt = 1.0 / n_steps
    steps = path_x.diff(dim=0)  # (n_steps, n, ...)
    excess = steps - dt * (path_x[-1] - path_x[0])
    return (excess**2).reshape(n_steps, path_x.shape[1], -1).sum(dim=(0, 2)) / dt
