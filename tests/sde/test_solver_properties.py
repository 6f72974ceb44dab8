"""Property tests of the fixed-step ODE solvers against exact solutions: the observed order on
random linear ODEs (error ratio between n and 2n steps ~ 2^p, forwards and backwards), the
quadrature rule each solver reduces to on a time-dependent field, and the cost of a solve
(EVALS_PER_STEP) and its grid."""

import math

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lib.sde.solvers import EVALS_PER_STEP, ODE_STEPS, odeint, time_grid

F64 = torch.float64
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ORDER = {"euler": 1, "rk2": 2, "heun": 2, "rk4": 4}
# Step counts n (compared with 2n) per method: with spectral radius <= 1.5 on [0, 1], h rho <=
# 0.05 (euler), 0.1 (rk2, heun), 0.19 (rk4), so the next error term shifts log2(ratio) by well
# under 0.35, while the errors (>= 1e-12 by assumption) stay far above float64 round-off (~1e-15).
N_STEPS = {"euler": 32, "rk2": 16, "heun": 16, "rk4": 8}
ORDER_TOL = 0.35
MAX_RADIUS = 1.5
MIN_ERROR = 1e-12  # below this the leading error term (nearly) vanishes: no order to observe


def test_orders_cover_every_method():
    assert set(ORDER) == set(ODE_STEPS) == set(EVALS_PER_STEP) == set(N_STEPS)


@st.composite
def matrices(draw) -> torch.Tensor:
    """A random (d, d) matrix, d in 2..3, scaled down to Frobenius norm <= MAX_RADIUS."""
    d = draw(st.integers(2, 3))
    entry = st.floats(-1.0, 1.0, allow_subnormal=False)
    a = torch.tensor(draw(st.lists(entry, min_size=d * d, max_size=d * d)), dtype=F64)
    # The Frobenius norm bounds the spectral radius (eigvals may fail on defective draws).
    norm = torch.linalg.norm(a).item()
    return (a * min(1.0, MAX_RADIUS / norm) if norm > 0 else a).reshape(d, d)


def _x0(seed: int, d: int) -> torch.Tensor:
    """A batch of two starting points (2, d)."""
    return torch.randn(2, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _observed_order(f, x0, exact, t0, t1, method, n) -> float:
    errors = []
    for steps in (n, 2 * n):
        x = odeint(f, x0, time_grid(t0, t1, steps, dtype=F64), method)
        errors.append((x - exact).norm().item())
    assume(min(errors) > MIN_ERROR)
    return math.log2(errors[0] / errors[1])


@SETTINGS
@given(matrices(), st.sampled_from(sorted(ODE_STEPS)), st.integers(0, 2**31 - 1), st.booleans())
def test_order_on_autonomous_linear_ode(a, method, seed, backwards):
    """dx/dt = A x: x(t1) = exp((t1 - t0) A) x(t0), forwards (0 -> 1) or backwards (1 -> 0)."""
    x0 = _x0(seed, len(a))
    t0, t1 = (1.0, 0.0) if backwards else (0.0, 1.0)
    exact = x0 @ torch.linalg.matrix_exp((t1 - t0) * a).T

    def f(x, t):
        return x @ a.T

    p = _observed_order(f, x0, exact, t0, t1, method, N_STEPS[method])
    assert abs(p - ORDER[method]) < ORDER_TOL, (method, p)


# x' = g(t) reduces each solver to a quadrature rule over its steps: left rectangle (euler),
# midpoint (rk2), trapezoid (heun), Simpson (rk4), exact for polynomials of degree q = p - 1 and
# erring on c t^(q+1) by exactly QUADRATURE_ERROR * c h^(q+1) (t1 - t0), h the signed step.
EXACT_DEGREE = {"euler": 0, "rk2": 1, "heun": 1, "rk4": 3}
QUADRATURE_ERROR = {"euler": 1 / 2, "rk2": 1 / 12, "heun": -1 / 6, "rk4": -1 / 120}


@SETTINGS
@given(
    st.sampled_from(sorted(ODE_STEPS)),
    st.lists(st.floats(-1.0, 1.0), min_size=5, max_size=5),
    st.integers(1, 8),
    st.floats(-1.0, 1.0),
    st.floats(0.5, 1.0).flatmap(lambda d: st.sampled_from([d, -d])),
)
def test_time_dependent_field_is_integrated_by_the_quadrature_rule(method, coef, n, t0, span):
    """dx/dt = g(t), g a polynomial of degree q + 1 (q = EXACT_DEGREE): the solver's error is the
    rule's exact error on the top monomial. Checks stage times and weights (it tells the midpoint
    and trapezoid rules apart, which a linear autonomous field cannot)."""
    q = EXACT_DEGREE[method]
    c = coef[: q + 2]  # g(t) = sum_j c_j t^j, j <= q + 1

    def g(t):
        return sum(cj * t**j for j, cj in enumerate(c))

    def integral(t):
        return sum(cj * t ** (j + 1) / (j + 1) for j, cj in enumerate(c))

    t1 = t0 + span
    x0 = torch.zeros(2, 3, dtype=F64)
    x = odeint(lambda x, t: g(t) * torch.ones_like(x), x0, time_grid(t0, t1, n, dtype=F64), method)
    h = span / n
    want = integral(t1) - integral(t0) - QUADRATURE_ERROR[method] * c[-1] * h ** (q + 1) * span
    # |g| <= 6 and |t| <= 2: the terms summed are <= ~100, so round-off stays below 1e-12; the
    # rule's error itself is >= 1e-7 |c_top| (rk4, h = 1/16), so a wrong rule is far outside.
    torch.testing.assert_close(x, torch.full_like(x0, want), rtol=0, atol=1e-12)


@SETTINGS
@given(
    st.sampled_from(sorted(ODE_STEPS)),
    st.integers(1, 20),
    st.floats(-2.0, 2.0),
    st.floats(-2.0, 2.0),
    st.booleans(),
)
def test_evaluations_grid_and_path(method, n_steps, t0, t1, return_path):
    """A solve costs n_steps * EVALS_PER_STEP evaluations, all at times inside the grid; the grid
    has n_steps + 1 uniform points from t0 to t1; the path starts at x0 and ends at the result."""
    assume(abs(t1 - t0) > 1e-3)
    grid = time_grid(t0, t1, n_steps, dtype=F64)
    assert grid.shape == (n_steps + 1,)
    assert grid[0].item() == t0 and abs(grid[-1].item() - t1) < 1e-12
    torch.testing.assert_close(grid.diff(), torch.full((n_steps,), (t1 - t0) / n_steps, dtype=F64))
    times = []

    def f(x, t):
        times.append(t.item())
        return -x

    x0 = torch.ones(3, 2, dtype=F64)
    out = odeint(f, x0, grid, method, return_path=return_path)
    assert len(times) == n_steps * EVALS_PER_STEP[method]
    lo, hi = min(t0, t1), max(t0, t1)
    assert all(lo - 1e-12 <= t <= hi + 1e-12 for t in times)
    if return_path:
        assert out.shape == (n_steps + 1, 3, 2) and torch.equal(out[0], x0)
        torch.testing.assert_close(out[-1], odeint(f, x0, grid, method))
    else:
        assert out.shape == x0.shape
