"""Schedules of the Gaussian path x_t = alpha_t z + sigma_t eps: alpha_t, sigma_t, derivatives.

t runs from noise (t = 0) to data (t = 1). Each schedule declares its end values and the prior
N(0, prior_std^2 I) that x_0 is drawn from: linear, cosine, sqrt and power go from pure noise
(alpha_0 = sigma_1 = 0, alpha_1 = sigma_0 = 1) to the data; VE keeps alpha = 1 and shrinks sigma
from sigma_max to sigma_min; VP is score-SDE's variance-preserving process with a linear rate.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch


@dataclass(frozen=True)
class Schedule(abc.ABC):
    """alpha_t, sigma_t and their exact derivatives; t: tensor of any shape -> same shape.

    Subclasses are frozen dataclasses defining the four methods, and override the declared ends
    (`alpha_0`, `alpha_1`, `sigma_0`, `sigma_1`) and `prior_std` where they differ from pure noise
    at t = 0 and the data at t = 1. Construction checks the declared ends, that alpha rises and
    sigma falls, that the derivatives are finite on [0, 1] (solvers evaluate the ends) and match
    finite differences.
    """

    name: ClassVar[str] = "schedule"

    @property
    def alpha_0(self) -> float:
        return 0.0

    @property
    def alpha_1(self) -> float:
        return 1.0

    @property
    def sigma_0(self) -> float:
        return 1.0

    @property
    def sigma_1(self) -> float:
        return 0.0

    @property
    def prior_std(self) -> float:
        """x_0 ~ N(0, prior_std^2 I) at the noise end."""
        return 1.0

    @abc.abstractmethod
    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """alpha_t."""

    @abc.abstractmethod
    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """d alpha_t / dt."""

    @abc.abstractmethod
    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """sigma_t."""

    @abc.abstractmethod
    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        """d sigma_t / dt."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.prior_std) and self.prior_std > 0):
            raise ValueError(f"schedule {self!r}: prior_std = {self.prior_std}, must be > 0")
        t = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)
        a, s = self.alpha(t), self.sigma(t)
        ends = {"alpha_0": (a[0], self.alpha_0), "alpha_1": (a[-1], self.alpha_1)}
        ends |= {"sigma_0": (s[0], self.sigma_0), "sigma_1": (s[-1], self.sigma_1)}
        for key, (value, want) in ends.items():
            if abs(value.item() - want) > 1e-6 * max(1.0, abs(want)):
                raise ValueError(
                    f"schedule {self!r}: {key} = {value.item():.6g}, but it declares {want:.6g}"
                )
        if (a.diff() < -1e-12).any() or (s.diff() > 1e-12).any():
            raise ValueError(
                f"schedule {self!r}: alpha must be non-decreasing and sigma non-increasing"
            )
        da, ds = self.d_alpha(t), self.d_sigma(t)
        if not (torch.isfinite(da).all() and torch.isfinite(ds).all()):
            raise ValueError(f"schedule {self!r}: d_alpha and d_sigma must be finite on [0, 1]")
        # Central differences at interior points (away from any clamped ends) catch a wrong formula.
        r, h = t[10:-10], 1e-6
        for key, f, df in (
            ("d_alpha", self.alpha, self.d_alpha),
            ("d_sigma", self.sigma, self.d_sigma),
        ):
            fd = (f(r + h) - f(r - h)) / (2 * h)
            if not torch.allclose(df(r), fd, rtol=1e-4, atol=1e-4):
                raise ValueError(f"schedule {self!r}: {key} is not the derivative of its function")


@dataclass(frozen=True)
class LinearSchedule(Schedule):
    """alpha = t, sigma = 1 - t: the straight-line (rectified flow / conditional OT) path."""

    name: ClassVar[str] = "linear"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return 1 - t

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.ones_like(t)


@dataclass(frozen=True)
class CosineSchedule(Schedule):
    """alpha = sin(pi t / 2), sigma = cos(pi t / 2): variance preserving, alpha^2 + sigma^2 = 1.

    sigma is computed as sin(pi (1 - t) / 2) so that sigma_1 (and d_alpha at t = 1) is exactly 0
    in float32, where cos(float32(pi / 2)) = -4e-8 would make sigma slightly negative.
    """

    name: ClassVar[str] = "cosine"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sin(0.5 * math.pi * t)

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * math.pi * self.sigma(t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sin(0.5 * math.pi * (1 - t))

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * math.pi * self.alpha(t)


@dataclass(frozen=True)
class SqrtSchedule(Schedule):
    """alpha = sqrt(t), sigma = sqrt(1 - t): variance preserving for unit-variance data.

    d_alpha = 1 / (2 sqrt t) and d_sigma = -1 / (2 sqrt(1 - t)) are infinite at t = 0 and t = 1,
    where rk4, Heun and the CNF evaluate the field. The derivative methods therefore evaluate at t
    clamped to [eps, 1 - eps]: finite (at most 1 / (2 sqrt eps) = 50 for eps = 1e-4), exact inside,
    and a step across an end misses at most sqrt(eps) / 2 = 0.005 of the change in alpha or sigma.
    alpha and sigma themselves are exact everywhere. The singular ends cost fixed-step solvers their
    order: with the exact mixture velocity, the rk4 CNF log-likelihood errs by 0.24 nats at 40 steps
    (2e-5 on the linear path), halving as the steps double.
    """

    eps: float = 1e-4
    name: ClassVar[str] = "sqrt"

    def __post_init__(self) -> None:
        if not 0 < self.eps < 0.01:
            raise ValueError(f"sqrt schedule eps must be in (0, 0.01), got {self.eps}")
        super().__post_init__()

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(t)

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 / torch.sqrt(t.clamp(self.eps, 1 - self.eps))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(1 - t)

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 / torch.sqrt(1 - t.clamp(self.eps, 1 - self.eps))


@dataclass(frozen=True)
class PowerSchedule(Schedule):
    """alpha = t^p, sigma = 1 - t^p with p >= 1: alpha + sigma = 1 as in the linear path (p = 1),
    but with time warped so the data signal appears late (p > 1); p < 1 is refused because
    d_alpha = p t^(p-1) is then infinite at t = 0."""

    p: float = 2.0
    name: ClassVar[str] = "power"

    def __post_init__(self) -> None:
        if not self.p >= 1:
            raise ValueError(f"power schedule needs p >= 1 (finite d_alpha at t = 0), got {self.p}")
        super().__post_init__()

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return t**self.p

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return self.p * t ** (self.p - 1)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return 1 - t**self.p

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return -self.d_alpha(t)


@dataclass(frozen=True)
class VESchedule(Schedule):
    """Variance exploding: alpha = 1, sigma_t = sigma_max^(1-t) sigma_min^t, geometric from
    sigma_max (t = 0) to sigma_min (t = 1); prior N(0, sigma_max^2 I) (Song et al.'s VE SDE)."""

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    name: ClassVar[str] = "ve"

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max < math.inf:
            raise ValueError(
                f"ve schedule needs 0 < sigma_min < sigma_max < inf, got sigma_min = "
                f"{self.sigma_min}, sigma_max = {self.sigma_max}"
            )
        super().__post_init__()

    @property
    def alpha_0(self) -> float:
        return 1.0

    @property
    def sigma_0(self) -> float:
        return self.sigma_max

    @property
    def sigma_1(self) -> float:
        return self.sigma_min

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma_max ** (1 - t) * self.sigma_min**t  # exact at both ends

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self.sigma(t) * math.log(self.sigma_min / self.sigma_max)


@dataclass(frozen=True)
class VPSchedule(Schedule):
    """Variance preserving with the linear rate beta(s) = beta_min + s (beta_max - beta_min) of
    Song et al.'s VP SDE, in the diffusion time s = 1 - t (s = 0 data, s = 1 noise):

        alpha = exp(-1/2 int_0^s beta) = exp(-1/2 (beta_min s + 1/2 (beta_max - beta_min) s^2)),
        sigma = sqrt(1 - alpha^2),  d_alpha = 1/2 beta(s) alpha,  d_sigma = -alpha d_alpha / sigma.

    Here beta is the SDE's rate, not a noise scale. The noise end is not pure noise: alpha_0 =
    exp(-(beta_min + beta_max) / 4) (0.0066 for the defaults) is declared, and the prior is
    N(0, I). d_sigma ~ -sqrt(beta_min / s) / 2 is infinite at the data end, so it is evaluated at t
    clamped to 1 - eps (at most sqrt(beta_min / eps) / 2 = 16 for the defaults), as SqrtSchedule
    does; alpha, sigma and d_alpha are exact everywhere.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-4
    name: ClassVar[str] = "vp"

    def __post_init__(self) -> None:
        if not 0 <= self.beta_min <= self.beta_max < math.inf or self.beta_max == 0:
            raise ValueError(
                f"vp schedule needs 0 <= beta_min <= beta_max < inf, beta_max > 0, got beta_min = "
                f"{self.beta_min}, beta_max = {self.beta_max}"
            )
        if not 0 < self.eps < 0.01:
            raise ValueError(f"vp schedule eps must be in (0, 0.01), got {self.eps}")
        super().__post_init__()

    @property
    def alpha_0(self) -> float:
        return math.exp(-0.25 * (self.beta_min + self.beta_max))

    @property
    def sigma_0(self) -> float:
        return math.sqrt(-math.expm1(-0.5 * (self.beta_min + self.beta_max)))

    def _log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        s = 1 - t
        return -0.5 * (self.beta_min * s + 0.5 * (self.beta_max - self.beta_min) * s**2)

    def _rate(self, t: torch.Tensor) -> torch.Tensor:
        """beta(s) at s = 1 - t."""
        return self.beta_min + (1 - t) * (self.beta_max - self.beta_min)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self._log_alpha(t))

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * self._rate(t) * self.alpha(t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(2 * self._log_alpha(t)))  # accurate as alpha -> 1

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        t = t.clamp(max=1 - self.eps)
        return -self.alpha(t) * self.d_alpha(t) / self.sigma(t)


# Selectable by name in the stages' params. VESchedule and VPSchedule are not registered yet: the
# stages draw x_0 from N(0, I) and start at t = 0, so they would need the declared prior first.
SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "linear": LinearSchedule,
    "cosine": CosineSchedule,
    "sqrt": SqrtSchedule,
    "power": PowerSchedule,
}


def make_schedule(name: str, **kwargs) -> Schedule:
    """Build a schedule by name, e.g. make_schedule("power", p=3.0); raises on unknown names."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; allowed: {sorted(SCHEDULES)}")
    try:
        return SCHEDULES[name](**kwargs)
    except TypeError as err:  # an unexpected keyword
        raise ValueError(f"schedule {name!r} does not accept {kwargs}: {err}") from err
