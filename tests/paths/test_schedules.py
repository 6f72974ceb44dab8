"""Schedules: declared ends and priors, derivatives against autograd, VE and VP against their
closed forms, and the checks that refuse a bad schedule on construction."""

import math
from dataclasses import dataclass

import pytest
import torch

from lib.paths.schedules import (
    SCHEDULES,
    LinearSchedule,
    PowerSchedule,
    Schedule,
    VESchedule,
    VPSchedule,
    make_schedule,
)

F64 = torch.float64
SCHEDULE_KWARGS = [("linear", {}), ("cosine", {}), ("sqrt", {}), ("power", {"p": 2.0})]
SCHEDULE_KWARGS += [("power", {"p": 3.5})]
IDS = [f"{name}{kwargs.get('p', '')}" for name, kwargs in SCHEDULE_KWARGS]
T_INTERIOR = torch.linspace(0.01, 0.99, 99, dtype=F64)  # clear of the sqrt schedule's clamp
T_CHECK = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.8, 0.95, 1.0], dtype=F64)


def _autograd(f, t: torch.Tensor) -> torch.Tensor:
    t = t.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(t).sum(), t)
    return grad


def test_registry_lists_the_required_schedules():
    assert {"linear", "cosine", "sqrt", "power"} <= set(SCHEDULES)
    assert make_schedule("power", p=3.0) == PowerSchedule(3.0)
    with pytest.raises(ValueError, match=r"unknown schedule 'vp'; allowed: \["):
        make_schedule("vp")  # VE and VP are not selectable by the stages yet
    with pytest.raises(ValueError, match="does not accept"):
        make_schedule("linear", p=2.0)


@pytest.mark.parametrize(("name", "kwargs"), SCHEDULE_KWARGS, ids=IDS)
def test_schedule_boundary_conditions(name, kwargs):
    s = make_schedule(name, **kwargs)
    assert s.name == name
    assert (s.alpha_0, s.alpha_1, s.sigma_0, s.sigma_1, s.prior_std) == (0.0, 1.0, 1.0, 0.0, 1.0)
    for dtype in (torch.float32, F64):
        ends = torch.tensor([0.0, 1.0], dtype=dtype)
        # Exact in float32 too: a negative sigma_1 would turn log sigma into NaN.
        assert s.alpha(ends).tolist() == [0.0, 1.0]
        assert s.sigma(ends).tolist() == [1.0, 0.0]
    assert torch.isfinite(s.d_alpha(ends)).all() and torch.isfinite(s.d_sigma(ends)).all()


@pytest.mark.parametrize(("name", "kwargs"), SCHEDULE_KWARGS, ids=IDS)
def test_schedule_derivatives_match_autograd(name, kwargs):
    s = make_schedule(name, **kwargs)
    grad_alpha, grad_sigma = _autograd(s.alpha, T_INTERIOR), _autograd(s.sigma, T_INTERIOR)
    assert torch.allclose(s.d_alpha(T_INTERIOR), grad_alpha, rtol=1e-12, atol=1e-12)
    assert torch.allclose(s.d_sigma(T_INTERIOR), grad_sigma, rtol=1e-12, atol=1e-12)
    assert s.d_alpha(T_INTERIOR).shape == T_INTERIOR.shape
    assert s.alpha(torch.full((2, 3, 4), 0.3)).shape == (2, 3, 4)


def test_sqrt_derivatives_are_clamped_near_the_ends():
    s = make_schedule("sqrt")
    ends = torch.tensor([0.0, 1e-6, 1.0], dtype=F64)
    assert torch.allclose(s.d_alpha(ends)[:2], torch.full((2,), 50.0, dtype=F64))
    assert s.d_sigma(ends)[2].item() == pytest.approx(-50.0)


# ------------------------------------------------------------------------------------------ VE


@pytest.mark.parametrize(("sigma_min", "sigma_max"), [(0.01, 50.0), (0.002, 80.0), (0.5, 2.0)])
def test_ve_matches_its_closed_form(sigma_min, sigma_max):
    s = VESchedule(sigma_min, sigma_max)
    t = T_CHECK
    want = sigma_max ** (1 - t) * sigma_min**t
    assert torch.allclose(s.sigma(t), want, rtol=1e-14, atol=0)
    assert torch.equal(s.alpha(t), torch.ones_like(t))
    assert torch.equal(s.d_alpha(t), torch.zeros_like(t))
    # Variance sigma_max^2 at the noise end (the prior's), sigma_min at the data end, both exact.
    assert s.sigma(torch.tensor([0.0, 1.0], dtype=F64)).tolist() == [sigma_max, sigma_min]
    assert (s.alpha_0, s.alpha_1, s.sigma_0, s.sigma_1) == (1.0, 1.0, sigma_max, sigma_min)
    assert s.prior_std == sigma_max
    # Geometric: equal steps in t multiply sigma by the same ratio (sigma_min / sigma_max)^dt.
    grid = torch.linspace(0.0, 1.0, 11, dtype=F64)
    ratios = s.sigma(grid)[1:] / s.sigma(grid)[:-1]
    assert torch.allclose(ratios, torch.full_like(ratios, (sigma_min / sigma_max) ** 0.1))
    # d sigma / dt = sigma log(sigma_min / sigma_max), against autograd.
    d_sigma = s.d_sigma(t)
    assert torch.allclose(d_sigma, want * math.log(sigma_min / sigma_max), rtol=1e-13, atol=0)
    assert torch.allclose(d_sigma, _autograd(s.sigma, t), rtol=1e-13, atol=0)
    assert s.sigma(torch.full((2, 3), 0.5)).shape == (2, 3)


def test_ve_refuses_bad_scales():
    for sigma_min, sigma_max in [(0.0, 1.0), (2.0, 1.0), (1.0, 1.0), (0.1, math.inf)]:
        with pytest.raises(ValueError, match="sigma_min < sigma_max"):
            VESchedule(sigma_min, sigma_max)


# ------------------------------------------------------------------------------------------ VP


def _vp_alpha(t: torch.Tensor, beta_min: float, beta_max: float) -> torch.Tensor:
    """exp(-1/2 int_0^s beta), s = 1 - t, by the trapezoid rule on 20001 points (exact to 1e-9)."""
    out = []
    for s_end in (1 - t).tolist():
        s = torch.linspace(0.0, s_end, 20001, dtype=F64)
        out.append(torch.exp(-0.5 * torch.trapezoid(beta_min + s * (beta_max - beta_min), s)))
    return torch.stack(out)


@pytest.mark.parametrize(("beta_min", "beta_max"), [(0.1, 20.0), (0.5, 5.0), (1.0, 1.0)])
def test_vp_matches_its_closed_form(beta_min, beta_max):
    s = VPSchedule(beta_min, beta_max)
    t = T_CHECK
    r = 1 - t
    alpha = torch.exp(-0.5 * (beta_min * r + 0.5 * (beta_max - beta_min) * r**2))
    assert torch.allclose(s.alpha(t), alpha, rtol=1e-14, atol=0)
    assert torch.allclose(s.alpha(t), _vp_alpha(t, beta_min, beta_max), rtol=1e-9, atol=0)
    assert torch.allclose(s.sigma(t), torch.sqrt(1 - alpha**2), rtol=1e-12, atol=1e-15)
    assert torch.allclose(s.alpha(t) ** 2 + s.sigma(t) ** 2, torch.ones_like(t), atol=1e-15)
    # Declared ends: alpha_0 = exp(-(beta_min + beta_max) / 4) > 0, not pure noise; prior N(0, I).
    alpha_0 = math.exp(-0.25 * (beta_min + beta_max))
    assert s.alpha_0 == pytest.approx(alpha_0, rel=1e-15) and s.alpha_0 > 0
    assert s.sigma_0 == pytest.approx(math.sqrt(1 - alpha_0**2), rel=1e-15)
    assert (s.alpha_1, s.sigma_1, s.prior_std) == (1.0, 0.0, 1.0)
    assert s.alpha(t[:1]).item() == pytest.approx(alpha_0, rel=1e-15)
    assert s.sigma(t[-1:]).tolist() == [0.0] and s.alpha(t[-1:]).tolist() == [1.0]
    # d_alpha = 1/2 beta(s) alpha; both derivatives against autograd away from the clamp.
    rate = beta_min + r * (beta_max - beta_min)
    assert torch.allclose(s.d_alpha(t), 0.5 * rate * alpha, rtol=1e-13, atol=0)
    assert torch.allclose(s.d_alpha(t), _autograd(s.alpha, t), rtol=1e-12, atol=0)
    inner = T_INTERIOR
    assert torch.allclose(s.d_sigma(inner), _autograd(s.sigma, inner), rtol=1e-10, atol=0)


def test_vp_sigma_derivative_is_clamped_at_the_data_end():
    """d_sigma ~ -sqrt(beta_min / s) / 2 as s = 1 - t -> 0: evaluated at t <= 1 - eps, finite."""
    s = VPSchedule(0.1, 20.0, eps=1e-4)
    ends = torch.tensor([1 - 1e-4, 1 - 1e-6, 1.0], dtype=F64)
    d_sigma = s.d_sigma(ends)
    assert torch.isfinite(d_sigma).all()
    assert torch.equal(d_sigma[1:], d_sigma[:1].expand(2))
    # The closed form -1/2 beta(s) alpha^2 / sigma at s = 1e-4, about -sqrt(beta_min / s) / 2.
    r = 1 - ends[0]
    alpha = torch.exp(-0.5 * (0.1 * r + 0.5 * 19.9 * r**2))
    want = -0.5 * (0.1 + 19.9 * r) * alpha**2 / torch.sqrt(1 - alpha**2)
    assert d_sigma[0].item() == pytest.approx(want.item(), rel=1e-9)
    assert d_sigma[0].item() == pytest.approx(-0.5 * math.sqrt(0.1 / 1e-4), rel=0.03)
    for bad in [{"beta_min": -0.1}, {"beta_min": 2.0, "beta_max": 1.0}, {"eps": 0.0}]:
        with pytest.raises(ValueError, match="vp schedule"):
            VPSchedule(**bad)


def test_float32_ends_of_ve_and_vp():
    ends = torch.tensor([0.0, 1.0])
    ve, vp = VESchedule(0.01, 50.0), VPSchedule()
    assert ve.sigma(ends).tolist() == pytest.approx([50.0, 0.01], rel=1e-6)
    assert vp.sigma(ends)[1].item() == 0.0 and vp.alpha(ends)[1].item() == 1.0
    for s in (ve, vp):
        assert torch.isfinite(s.d_alpha(ends)).all() and torch.isfinite(s.d_sigma(ends)).all()


# ---------------------------------------------------------------------------- refused schedules


@dataclass(frozen=True)
class _WrongEnd(LinearSchedule):
    def sigma(self, t):  # sigma_1 = 0.5, but the declared end is 0
        return 1 - 0.5 * t

    def d_sigma(self, t):
        return -0.5 * torch.ones_like(t)


@dataclass(frozen=True)
class _WrongDeclaredEnd(VESchedule):
    @property
    def sigma_0(self) -> float:  # declares 1, while sigma(0) = sigma_max
        return 1.0


@dataclass(frozen=True)
class _BadPrior(LinearSchedule):
    @property
    def prior_std(self) -> float:
        return 0.0


@dataclass(frozen=True)
class _NotMonotone(LinearSchedule):
    def alpha(self, t):  # right ends, but alpha falls on (0.3, 0.7)
        return t + 0.3 * torch.sin(2 * torch.pi * t)

    def d_alpha(self, t):
        return 1 + 0.6 * torch.pi * torch.cos(2 * torch.pi * t)


@dataclass(frozen=True)
class _WrongDerivative(LinearSchedule):
    def d_alpha(self, t):
        return 2 * torch.ones_like(t)


@dataclass(frozen=True)
class _InfiniteDerivative(Schedule):
    def alpha(self, t):
        return torch.sqrt(t)

    def d_alpha(self, t):
        return 0.5 / torch.sqrt(t)

    def sigma(self, t):
        return 1 - t

    def d_sigma(self, t):
        return -torch.ones_like(t)


@dataclass(frozen=True)
class _NoSigmaDerivative(Schedule):
    def alpha(self, t):
        return t

    def d_alpha(self, t):
        return torch.ones_like(t)

    def sigma(self, t):
        return 1 - t


def test_schedule_without_all_four_methods_cannot_be_built():
    with pytest.raises(TypeError, match="d_sigma"):
        _NoSigmaDerivative()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_WrongEnd, "sigma_1"),
        (lambda: _WrongDeclaredEnd(0.01, 50.0), "sigma_0 = 50, but it declares 1"),
        (_BadPrior, "prior_std"),
        (_NotMonotone, "non-decreasing"),
        (_WrongDerivative, "d_alpha is not the derivative"),
        (_InfiniteDerivative, "finite"),
        (lambda: PowerSchedule(0.5), "p >= 1"),
        (lambda: make_schedule("sqrt", eps=0.0), "eps"),
        (lambda: make_schedule("sqrt", eps=0.01), "eps"),
        (lambda: VPSchedule(eps=0.0), "eps"),
        (lambda: VPSchedule(eps=0.01), "eps"),
        (lambda: VPSchedule(beta_max=math.inf), "beta_max < inf"),
    ],
)
def test_bad_schedule_is_refused_on_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_singular_derivatives_are_clamped_at_both_ends():
    """sqrt: d_alpha and d_sigma are evaluated at t clamped to [eps, 1 - eps] at both ends."""
    s = make_schedule("sqrt", eps=1e-3)
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    lo, hi = 0.5 / math.sqrt(1e-3), 0.5 / math.sqrt(1 - 1e-3)
    torch.testing.assert_close(s.d_alpha(ends), torch.tensor([lo, hi], dtype=torch.float64))
    torch.testing.assert_close(s.d_sigma(ends), -torch.tensor([hi, lo], dtype=torch.float64))


@dataclass(frozen=True)
class _DeclaredEnds(LinearSchedule):
    """The linear schedule declaring ends off by given amounts (alpha_0, alpha_1, sigma_0)."""

    off: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def alpha_0(self) -> float:
        return 0.0 + self.off[0]

    @property
    def alpha_1(self) -> float:
        return 1.0 + self.off[1]

    @property
    def sigma_0(self) -> float:
        return 1.0 + self.off[2]


@dataclass(frozen=True)
class _LargeDeclaredEnd(VESchedule):
    """VE with sigma_0 = sigma_max declared with a relative error `rel`."""

    rel: float = 0.0

    @property
    def sigma_0(self) -> float:
        return self.sigma_max * (1 + self.rel)


def test_declared_ends_are_checked_to_1e_6_relative():
    """Each end is compared with the schedule's value, within 1e-6 x max(1, |end|), and a wrong
    one is named."""
    for i, key in enumerate(["alpha_0", "alpha_1", "sigma_0"]):
        off = [0.0, 0.0, 0.0]
        off[i] = 1.5e-6
        with pytest.raises(ValueError, match=f"{key} = .*, but it declares"):
            _DeclaredEnds(off=tuple(off))
        off[i] = 5e-7
        _DeclaredEnds(off=tuple(off))  # within the tolerance
    _LargeDeclaredEnd(0.01, 50.0, rel=5e-7)  # 2.5e-5 off at 50: relative, so accepted
    with pytest.raises(ValueError, match="sigma_0 = 50, but it declares 50.0001"):
        _LargeDeclaredEnd(0.01, 50.0, rel=3e-6)
