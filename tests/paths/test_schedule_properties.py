"""Property tests of every schedule and of the Gaussian path, at random times, parameters and
points: x_t = alpha_t z + sigma_t eps (t = 0 noise, t = 1 data), its velocity is d/dt x_t, the
conditional score is -eps / sigma_t, the derivatives are those of alpha and sigma, the declared
ends hold, and the exact mixture marginal reduces to closed forms for one component."""

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.paths.gaussian import GaussianMixtureMarginal, GaussianPath
from lib.paths.schedules import Schedule, VESchedule, VPSchedule, make_schedule

F64 = torch.float64
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# Central differences in float64 with step H: truncation H^2 f''' / 6 <= 1e-12 * 4e4 / 6 on
# t in [T_LO, T_HI] (the sqrt schedule's f''' ~ 3/8 t^(-5/2) is the largest), round-off
# ~ 2e-16 |f| / H = 2e-10 |f|; so rtol 1e-6 with atol 1e-7 |f| leaves a margin of ~100.
H = 1e-6
FD_RTOL = 1e-6
# Inside (0, 1), away from where d_alpha or d_sigma is infinite (sqrt at both ends, VP at t = 1)
# and where the sqrt and VP derivatives are evaluated at a clamped t (within eps = 1e-4 of an end).
T_LO, T_HI = 0.01, 0.99


@st.composite
def schedules(draw) -> Schedule:
    """Any schedule, with random parameters where it has them."""
    kind = draw(st.sampled_from(["linear", "cosine", "sqrt", "power", "ve", "vp"]))
    if kind == "power":
        return make_schedule("power", p=draw(st.floats(1.0, 6.0)))
    if kind == "ve":
        sigma_min = 10 ** draw(st.floats(-3.0, 0.0))
        return VESchedule(sigma_min, sigma_min * 10 ** draw(st.floats(0.2, 3.0)))
    if kind == "vp":
        beta_min = draw(st.floats(0.0, 1.0))
        return VPSchedule(beta_min, beta_min + draw(st.floats(0.5, 25.0)))
    return make_schedule(kind)


times = st.floats(T_LO, T_HI)
seeds = st.integers(0, 2**31 - 1)
dims = st.integers(1, 4)


def _tensor(t: float) -> torch.Tensor:
    return torch.tensor(t, dtype=F64)


def _fd(f, t: float) -> torch.Tensor:
    return (f(_tensor(t + H)) - f(_tensor(t - H))) / (2 * H)


def _randn(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _assert_fd(df: torch.Tensor, fd: torch.Tensor, f: torch.Tensor) -> None:
    scale = max(1.0, f.abs().max().item())
    torch.testing.assert_close(df, fd, rtol=FD_RTOL, atol=1e-7 * scale)


def _assert_velocity_from_score(path, x, score, u, t: float) -> None:
    """velocity_from_score(x, score) = (d_alpha x + (d_alpha sigma^2 - alpha sigma d_sigma) score)
    / alpha equals u up to round-off: its terms cancel to O(alpha) and are divided by alpha
    (down to 1e-12 for power p = 6 at t = 0.01), so the error bound is ~100 ulps of the terms'
    magnitudes over alpha, elementwise."""
    a, s, da, ds = path.coefficients(t, x)
    got = path.velocity_from_score(x, score, t)
    terms = (da * x).abs() + (da * s**2 * score).abs() + (a * s * ds * score).abs()
    bound = 1e-14 * terms / a + 1e-12 * u.abs()
    assert ((got - u).abs() <= bound).all(), ((got - u).abs() - bound).max()


# ------------------------------------------------------------------------------- schedules


@SETTINGS
@given(schedules(), times)
def test_derivatives_are_central_differences(sch, t):
    for f, df in ((sch.alpha, sch.d_alpha), (sch.sigma, sch.d_sigma)):
        _assert_fd(df(_tensor(t)), _fd(f, t), f(_tensor(t)))


@SETTINGS
@given(schedules())
def test_declared_ends_are_the_functions_at_0_and_1(sch):
    ends = torch.tensor([0.0, 1.0], dtype=F64)
    a, s = sch.alpha(ends).tolist(), sch.sigma(ends).tolist()
    # The declared ends are closed forms of the same expressions (VP: exp and expm1 of the same
    # exponent), so they agree to a few ulps.
    for got, want in ((a[0], sch.alpha_0), (a[1], sch.alpha_1)):
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15), (got, want)
    for got, want in ((s[0], sch.sigma_0), (s[1], sch.sigma_1)):
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15), (got, want)
    assert sch.prior_std > 0


@SETTINGS
@given(schedules(), times, times)
def test_alpha_rises_and_sigma_falls(sch, t1, t2):
    lo, hi = _tensor(min(t1, t2)), _tensor(max(t1, t2))
    assert sch.alpha(lo) <= sch.alpha(hi) and sch.sigma(lo) >= sch.sigma(hi)
    assert sch.sigma(hi) > 0 and sch.d_alpha(lo) >= 0 and sch.d_sigma(lo) <= 0


@SETTINGS
@given(schedules(), times)
def test_schedule_family_invariants(sch, t):
    """alpha + sigma = 1 (linear, power), alpha^2 + sigma^2 = 1 (cosine, sqrt, VP), alpha = 1
    (VE): each holds to float64 round-off, and the derivative identity with it."""
    tt = _tensor(t)
    a, s, da, ds = sch.alpha(tt), sch.sigma(tt), sch.d_alpha(tt), sch.d_sigma(tt)
    if sch.name in ("linear", "power"):
        assert abs(a + s - 1) < 1e-14 and abs(da + ds) < 1e-12
    elif sch.name in ("cosine", "sqrt", "vp"):
        assert abs(a**2 + s**2 - 1) < 1e-14 and abs(a * da + s * ds) < 1e-10 * (1 + abs(da))
    else:
        assert sch.name == "ve" and a == 1 and da == 0


# --------------------------------------------------------------------------- Gaussian path


@SETTINGS
@given(schedules(), times, seeds, dims)
def test_path_sample_is_alpha_data_plus_sigma_noise(sch, t, seed, d):
    path = GaussianPath(sch)
    z, noise = _randn(seed, 5, d), _randn(seed + 1, 5, d)
    tt = _tensor(t)
    out = path.sample(z, t, noise)
    torch.testing.assert_close(out.x_t, sch.alpha(tt) * z + sch.sigma(tt) * noise)
    assert torch.equal(out.noise, noise) and out.t.shape == (5,) and (out.t == t).all()
    # The velocity is d/dt x_t at fixed (z, noise): central differences of x_t itself.
    fd = (path.sample(z, t + H, noise).x_t - path.sample(z, t - H, noise).x_t) / (2 * H)
    _assert_fd(out.velocity, fd, out.x_t)


@SETTINGS
@given(schedules(), st.lists(times, min_size=1, max_size=6), seeds, dims)
def test_conditional_velocity_and_score(sch, ts, seed, d):
    """Per-row times (n,): u(x_t | z) = d_alpha z + d_sigma eps, score = -eps / sigma =
    -(x_t - alpha z) / sigma^2 = grad_x log p_t(x_t | z)."""
    path = GaussianPath(sch)
    n = len(ts)
    t = torch.tensor(ts, dtype=F64)
    z, noise = _randn(seed, n, d), _randn(seed + 1, n, d)
    a, s = sch.alpha(t)[:, None], sch.sigma(t)[:, None]
    da, ds = sch.d_alpha(t)[:, None], sch.d_sigma(t)[:, None]
    x = path.sample(z, t, noise).x_t
    torch.testing.assert_close(x, a * z + s * noise)
    # conditional_velocity divides by sigma >= sigma(0.99) and multiplies back: relative error
    # ~ 1 / sigma ulps, far below the default float64 rtol 1e-7.
    torch.testing.assert_close(path.conditional_velocity(x, z, t), da * z + ds * noise)
    score = path.conditional_score(x, z, t)
    torch.testing.assert_close(score, -noise / s)
    torch.testing.assert_close(path.score_from_noise(noise, t), -noise / s)
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(path.conditional_log_prob(x_req, z, t).sum(), x_req)
    torch.testing.assert_close(grad, score)


@SETTINGS
@given(schedules(), times, seeds, dims)
def test_velocity_score_conversions_invert(sch, t, seed, d):
    path = GaussianPath(sch)
    z, noise = _randn(seed, 4, d), _randn(seed + 1, 4, d)
    out = path.sample(z, t, noise)
    x, u = out.x_t, out.velocity  # u = d_alpha z + d_sigma noise, without cancellation
    score = -noise / sch.sigma(_tensor(t))
    _assert_velocity_from_score(path, x, score, u, t)
    torch.testing.assert_close(path.score_from_velocity(x, u, t), score, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ mixture marginal, K = 1


@SETTINGS
@given(schedules(), times, seeds, dims, st.booleans())
def test_point_mass_marginal_is_the_conditional(sch, t, seed, d, batched_t):
    """A one-point "mixture" (std 0): the marginal is the conditional path given that point."""
    path = GaussianPath(sch)
    mu, x = _randn(seed, 1, d), 2 * _randn(seed + 1, 6, d)
    marginal = GaussianMixtureMarginal(
        path, mu, torch.zeros(1, dtype=F64), torch.ones(1, dtype=F64)
    )
    tt = torch.full((6,), t, dtype=F64) if batched_t else t
    z = mu.expand_as(x)
    torch.testing.assert_close(marginal.score(x, tt), path.conditional_score(x, z, tt))
    torch.testing.assert_close(marginal.velocity(x, tt), path.conditional_velocity(x, z, tt))
    torch.testing.assert_close(marginal.log_prob(x, tt), path.conditional_log_prob(x, z, tt))


@SETTINGS
@given(schedules(), times, seeds, dims, st.floats(0.05, 3.0), st.booleans())
def test_gaussian_marginal_closed_form(sch, t, seed, d, std, diagonal):
    """Data N(mu, s0^2 I): x_t ~ N(m, r^2 I) with m = alpha mu, r^2 = alpha^2 s0^2 + sigma^2; its
    score is -(x - m) / r^2 and the Gaussian-preserving velocity is m' + (r' / r) (x - m), with
    m' and r' taken here by central differences (independent of d_alpha and d_sigma)."""
    path = GaussianPath(sch)
    mu, x = _randn(seed, 1, d), 2 * _randn(seed + 1, 6, d)
    stds = torch.full((1, d), std, dtype=F64) if diagonal else torch.tensor([std], dtype=F64)
    marginal = GaussianMixtureMarginal(path, mu, stds, torch.ones(1, dtype=F64))

    def r(tt):
        return torch.sqrt(sch.alpha(tt) ** 2 * std**2 + sch.sigma(tt) ** 2)

    tt = _tensor(t)
    m, rt = sch.alpha(tt) * mu, r(tt)
    torch.testing.assert_close(marginal.score(x, t), -(x - m) / rt**2)
    log_n = -0.5 * (((x - m) / rt) ** 2 + 2 * torch.log(rt) + math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(marginal.log_prob(x, t), log_n)
    drift, spread = _fd(sch.alpha, t) * mu, _fd(r, t) / rt * (x - m)
    # The two terms may cancel: bound the error elementwise by FD_RTOL (see H) of each term's
    # magnitude plus the differences' round-off, ~2e-10 |alpha| in alpha' and ~2e-10 r in r'.
    err = (marginal.velocity(x, t) - (drift + spread)).abs()
    round_off = 1e-9 * ((x - m).abs() + sch.alpha(tt).abs() * mu.abs())
    assert (err <= FD_RTOL * (drift.abs() + spread.abs()) + round_off).all(), err.max()


@SETTINGS
@given(schedules(), times, seeds, st.integers(2, 3), st.integers(1, 3))
def test_marginal_velocity_is_velocity_from_score(sch, t, seed, k, d):
    """velocity_from_score maps the marginal score to the marginal velocity (it is affine in the
    pair with t-only coefficients, so it maps posterior means to posterior means); and splitting a
    component into two identical halves changes nothing."""
    path = GaussianPath(sch)
    means, x = 2 * _randn(seed, k, d), 2 * _randn(seed + 1, 5, d)
    stds = 0.2 + _randn(seed + 2, k, d).abs()
    w = torch.softmax(_randn(seed + 3, k), 0)
    marginal = GaussianMixtureMarginal(path, means, stds, w)
    score, u = marginal.score(x, t), marginal.velocity(x, t)
    _assert_velocity_from_score(path, x, score, u, t)
    split = GaussianMixtureMarginal(
        path,
        torch.cat([means, means[:1]]),
        torch.cat([stds, stds[:1]]),
        torch.cat([w[:1] / 2, w[1:], w[:1] / 2]),
    )
    torch.testing.assert_close(split.score(x, t), score)
    torch.testing.assert_close(split.velocity(x, t), u)
    torch.testing.assert_close(split.log_prob(x, t), marginal.log_prob(x, t))
