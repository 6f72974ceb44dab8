"""Schedules and the Gaussian conditional probability path x_t = alpha_t z + beta_t eps.

t runs from noise (t = 0, x_0 = eps ~ N(0, I), or a source sample for data-to-data flows) to
data (t = 1, x_1 = z): alpha_0 = beta_1 = 0, alpha_1 = beta_0 = 1. `GaussianPath` gives the
conditional velocity, score and log-density that flow matching and score matching regress onto,
and the identity between a marginal velocity and score. `GaussianMixtureMarginal` gives the exact
marginal log-density, score and velocity when the data are a Gaussian mixture: the
network-free reference the tests and the toy stages check against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from lib.data.densities import Gaussian, Mixture

LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Schedule:
    """alpha_t, beta_t and their exact derivatives; t: tensor of any shape -> same shape.

    Subclasses are frozen dataclasses defining the four methods. Construction checks the ends
    (alpha_0 = 0, alpha_1 = 1, beta_0 = 1, beta_1 = 0), that alpha rises and beta falls, that the
    derivatives are finite on [0, 1] (solvers evaluate the ends) and match finite differences.
    """

    name: ClassVar[str] = "schedule"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_beta(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __post_init__(self) -> None:
        t = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)
        a, b = self.alpha(t), self.beta(t)
        ends = {"alpha_0": (a[0], 0.0), "alpha_1": (a[-1], 1.0)}
        ends |= {"beta_0": (b[0], 1.0), "beta_1": (b[-1], 0.0)}
        for key, (value, want) in ends.items():
            if abs(value.item() - want) > 1e-6:
                raise ValueError(f"schedule {self!r}: {key} = {value.item():.6g}, must be {want}")
        if (a.diff() < -1e-12).any() or (b.diff() > 1e-12).any():
            raise ValueError(
                f"schedule {self!r}: alpha must be non-decreasing and beta non-increasing"
            )
        da, db = self.d_alpha(t), self.d_beta(t)
        if not (torch.isfinite(da).all() and torch.isfinite(db).all()):
            raise ValueError(f"schedule {self!r}: d_alpha and d_beta must be finite on [0, 1]")
        # Central differences at interior points (away from any clamped ends) catch a wrong formula.
        s, h = t[10:-10], 1e-6
        for key, f, df in (
            ("d_alpha", self.alpha, self.d_alpha),
            ("d_beta", self.beta, self.d_beta),
        ):
            fd = (f(s + h) - f(s - h)) / (2 * h)
            if not torch.allclose(df(s), fd, rtol=1e-4, atol=1e-4):
                raise ValueError(f"schedule {self!r}: {key} is not the derivative of its function")


@dataclass(frozen=True)
class LinearSchedule(Schedule):
    """alpha = t, beta = 1 - t: the straight-line (rectified flow / conditional OT) path."""

    name: ClassVar[str] = "linear"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return 1 - t

    def d_beta(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.ones_like(t)


@dataclass(frozen=True)
class CosineSchedule(Schedule):
    """alpha = sin(pi t / 2), beta = cos(pi t / 2): variance preserving, alpha^2 + beta^2 = 1.

    beta is computed as sin(pi (1 - t) / 2) so that beta_1 (and d_alpha at t = 1) is exactly 0 in
    float32, where cos(float32(pi / 2)) = -4e-8 would make beta slightly negative.
    """

    name: ClassVar[str] = "cosine"

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sin(0.5 * math.pi * t)

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * math.pi * self.beta(t)

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sin(0.5 * math.pi * (1 - t))

    def d_beta(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * math.pi * self.alpha(t)


@dataclass(frozen=True)
class SqrtSchedule(Schedule):
    """alpha = sqrt(t), beta = sqrt(1 - t): variance preserving for unit-variance data.

    d_alpha = 1 / (2 sqrt t) and d_beta = -1 / (2 sqrt(1 - t)) are infinite at t = 0 and t = 1,
    where rk4, Heun and the CNF evaluate the field. The derivative methods therefore evaluate at t
    clamped to [eps, 1 - eps]: finite (at most 1 / (2 sqrt eps) = 50 for eps = 1e-4), exact inside,
    and a step across an end misses at most sqrt(eps) / 2 = 0.005 of the change in alpha or beta.
    alpha and beta themselves are exact everywhere. The singular ends cost fixed-step solvers their
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

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(1 - t)

    def d_beta(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 / torch.sqrt(1 - t.clamp(self.eps, 1 - self.eps))


@dataclass(frozen=True)
class PowerSchedule(Schedule):
    """alpha = t^p, beta = 1 - t^p with p >= 1: alpha + beta = 1 as in the linear path (p = 1),
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

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return 1 - t**self.p

    def d_beta(self, t: torch.Tensor) -> torch.Tensor:
        return -self.d_alpha(t)


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


# ------------------------------------------------------------------------------------- the path


def _time_like(t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """t as a tensor on x's device and dtype: 0-dim stays 0-dim, (n,) becomes (n, 1, ..., 1)."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)  # a float t is never rounded to float32
    if t.ndim == 0:
        return t
    if t.numel() != x.shape[0]:
        raise ValueError(f"t has {t.numel()} entries but x has batch size {x.shape[0]}")
    return t.reshape(x.shape[0], *[1] * (x.ndim - 1))


@dataclass(frozen=True, eq=False)
class PathSample:
    t: torch.Tensor  # (n,)
    x_t: torch.Tensor  # (n, ...) = alpha z + beta noise
    velocity: torch.Tensor  # (n, ...) = d_alpha z + d_beta noise, the conditional velocity
    noise: torch.Tensor  # (n, ...)


@dataclass(frozen=True)
class GaussianPath:
    """p_t(x | z) = N(x; alpha_t z, beta_t^2 I) for one schedule.

    t is (n,) or a float / 0-dim tensor; x and z are (n, ...), e.g. (n, d) or images (n, C, H, W).
    """

    schedule: Schedule

    def coefficients(
        self, t: torch.Tensor | float, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(alpha, beta, d_alpha, d_beta) at t, shaped to broadcast against x."""
        t = _time_like(t, x)
        s = self.schedule
        return s.alpha(t), s.beta(t), s.d_alpha(t), s.d_beta(t)

    def sample(self, z: torch.Tensor, t: torch.Tensor | float, noise: torch.Tensor) -> PathSample:
        """x_t = alpha z + beta noise and its time derivative d_alpha z + d_beta noise."""
        a, b, da, db = self.coefficients(t, z)
        t_out = _time_like(t, z).reshape(-1).expand(len(z))
        return PathSample(t_out, a * z + b * noise, da * z + db * noise, noise)

    def conditional_velocity(
        self, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """u_t(x | z) = (d_alpha - d_beta alpha / beta) z + (d_beta / beta) x.

        Equals `sample(z, t, noise).velocity` at x = x_t; singular at beta = 0 (t = 1)."""
        a, b, da, db = self.coefficients(t, x)
        return (da - db * a / b) * z + (db / b) * x

    def conditional_score(
        self, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """grad_x log p_t(x | z) = -(x - alpha z) / beta^2."""
        a, b, _, _ = self.coefficients(t, x)
        return -(x - a * z) / b**2

    def conditional_log_prob(
        self, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """log N(x; alpha z, beta^2 I) summed over the non-batch dims: (n, ...) -> (n,)."""
        a, b, _, _ = self.coefficients(t, x)
        elementwise = -0.5 * ((x - a * z) / b) ** 2 - torch.log(b) - 0.5 * LOG_2PI
        return elementwise.reshape(len(x), -1).sum(-1)

    def score_from_noise(self, noise_pred: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """Score = -noise / beta, since x_t - alpha z = beta noise.

        The epsilon-parameterisation: a network predicts the bounded noise and the 1 / beta blow-up
        of the score as t -> 1 is applied analytically instead of being learned.
        """
        _, b, _, _ = self.coefficients(t, noise_pred)
        return -noise_pred / b

    def velocity_from_score(
        self, x: torch.Tensor, score: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """u = (d_alpha / alpha) x + (d_alpha beta^2 / alpha - beta d_beta) score.

        Exact for the conditional pair, and (being affine in (x, score) with coefficients that
        depend on t only) for the marginal pair, the posterior means of the conditional ones.
        Singular at alpha = 0 (t = 0), where the score no longer determines the velocity.
        """
        a, b, da, db = self.coefficients(t, x)
        return (da * x + (da * b**2 - a * b * db) * score) / a

    def score_from_velocity(
        self, x: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """Score = (alpha u - d_alpha x) / (d_alpha beta^2 - alpha beta d_beta), the inverse of
        `velocity_from_score`. Finite at t = 0 (-x, the N(0, I) score); singular at beta = 0."""
        a, b, da, db = self.coefficients(t, x)
        return (a * velocity - da * x) / (da * b**2 - a * b * db)


# ---------------------------------------------------------------- exact Gaussian-mixture marginal


@dataclass(frozen=True, eq=False)
class GaussianMixtureMarginal:
    """Marginal p_t = sum_k w_k N(alpha mu_k, alpha^2 sigma_k^2 + beta^2) of a Gaussian path whose
    data are a Gaussian mixture, with its exact score and velocity; x (n, d), t (n,) or scalar.

    Parameters are cast to the device and dtype of x on every call.
    """

    path: GaussianPath
    means: torch.Tensor  # (K, d)
    stds: torch.Tensor  # (K,) isotropic or (K, d) diagonal
    weights: torch.Tensor  # (K,), sums to 1

    def __post_init__(self) -> None:
        if self.means.ndim != 2:
            raise ValueError(f"means must be (K, d), got shape {tuple(self.means.shape)}")
        k = self.means.shape[0]
        if self.stds.shape not in ((k,), self.means.shape):
            shapes = f"(K,) or (K, d) = {tuple(self.means.shape)}"
            raise ValueError(f"stds must be {shapes}, got {tuple(self.stds.shape)}")
        w = self.weights
        if w.shape != (k,) or (w < 0).any() or abs(w.sum().item() - 1) > 1e-5:
            raise ValueError(f"weights must be (K,) = ({k},), non-negative, summing to 1; got {w}")

    @classmethod
    def from_mixture(cls, path: GaussianPath, mixture: Mixture) -> GaussianMixtureMarginal:
        """From a `lib.densities.Mixture` of `Gaussian` components (e.g. `gaussians_on_circle`)."""
        if not all(isinstance(c, Gaussian) for c in mixture.components):
            kinds = sorted({type(c).__name__ for c in mixture.components})
            raise ValueError(f"from_mixture needs Gaussian components, got {kinds}")
        means = torch.stack([c.mean for c in mixture.components])
        stds = torch.stack([c.std for c in mixture.components])
        return cls(path, means, stds, mixture.weights)

    def _components(self, x: torch.Tensor, t: torch.Tensor | float):
        """Per-component terms on a (n, K, d) layout: the residual x - alpha mu_k, the variance
        alpha^2 sigma_k^2 + beta^2, the log joint log w_k + log N_k(x) (n, K), and coefficients."""
        mu = self.means.to(x)  # (K, d)
        var0 = self.stds.to(x) ** 2
        var0 = var0[:, None].expand_as(mu) if var0.ndim == 1 else var0  # (K, d)
        a, b, da, db = self.path.coefficients(t, x[:, None, :])  # scalar or (n, 1, 1)
        var = a**2 * var0 + b**2
        resid = x[:, None, :] - a * mu
        log_n = -0.5 * (resid**2 / var + torch.log(var) + LOG_2PI).sum(-1)
        log_joint = log_n + torch.log(self.weights.to(x))
        return resid, var, var0, log_joint, (a, b, da, db)

    def log_prob(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """log p_t(x): (n, d) -> (n,)."""
        *_, log_joint, _ = self._components(x, t)
        return torch.logsumexp(log_joint, dim=-1)

    def score(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """grad log p_t(x) = sum_k gamma_k(x) (-(x - alpha mu_k) / var_k): (n, d)."""
        resid, var, _, log_joint, _ = self._components(x, t)
        gamma = torch.softmax(log_joint, dim=-1)[..., None]  # (n, K, 1)
        return (gamma * (-resid / var)).sum(1)

    def velocity(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """u_t(x) = sum_k gamma_k(x) u_k(x), with the affine field of component k
        u_k(x) = d_alpha mu_k + (alpha d_alpha sigma_k^2 + beta d_beta) / var_k (x - alpha mu_k)."""
        resid, var, var0, log_joint, (a, b, da, db) = self._components(x, t)
        gamma = torch.softmax(log_joint, dim=-1)[..., None]  # (n, K, 1)
        u = da * self.means.to(x) + (a * da * var0 + b * db) / var * resid
        return (gamma * u).sum(1)
