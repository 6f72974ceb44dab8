"""The Gaussian conditional probability path x_t = alpha_t z + sigma_t eps of one schedule.

t runs from noise (t = 0, x_0 = eps ~ N(0, prior_std^2 I), or a source sample for data-to-data
flows) to data (t = 1, x_1 = z); the schedule (`lib.paths.schedules`) gives alpha_t, sigma_t and
their ends. `GaussianPath` gives the conditional velocity, score and log-density that flow matching
and score matching regress onto, and the identity between a marginal velocity and score.
`GaussianMixtureMarginal` gives the exact marginal log-density, score and velocity when the data
are a Gaussian mixture: the network-free reference the tests and the toy stages check against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.data.densities import LOG_2PI, Gaussian, Mixture
from lib.paths.schedules import Schedule

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
    x_t: torch.Tensor  # (n, ...) = alpha z + sigma noise
    velocity: torch.Tensor  # (n, ...) = d_alpha z + d_sigma noise, the conditional velocity
    noise: torch.Tensor  # (n, ...)


@dataclass(frozen=True)
class GaussianPath:
    """p_t(x | z) = N(x; alpha_t z, sigma_t^2 I) for one schedule.

    t is (n,) or a float / 0-dim tensor; x and z are (n, ...), e.g. (n, d) or images (n, C, H, W).
    """

    schedule: Schedule

    def coefficients(
        self, t: torch.Tensor | float, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(alpha, sigma, d_alpha, d_sigma) at t, shaped to broadcast against x."""
        t = _time_like(t, x)
        sch = self.schedule
        return sch.alpha(t), sch.sigma(t), sch.d_alpha(t), sch.d_sigma(t)

    def sample(self, z: torch.Tensor, t: torch.Tensor | float, noise: torch.Tensor) -> PathSample:
        """x_t = alpha z + sigma noise and its time derivative d_alpha z + d_sigma noise."""
        a, s, da, ds = self.coefficients(t, z)
        t_out = _time_like(t, z).reshape(-1).expand(len(z))
        return PathSample(t_out, a * z + s * noise, da * z + ds * noise, noise)

    def conditional_velocity(
        self, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """u_t(x | z) = (d_alpha - d_sigma alpha / sigma) z + (d_sigma / sigma) x.

        Equals `sample(z, t, noise).velocity` at x = x_t; singular at sigma = 0."""
        a, s, da, ds = self.coefficients(t, x)
        return (da - ds * a / s) * z + (ds / s) * x

    def conditional_score(
        self, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """grad_x log p_t(x | z) = -(x - alpha z) / sigma^2."""
        a, s, _, _ = self.coefficients(t, x)
        return -(x - a * z) / s**2

    def conditional_log_prob(
        self, x: torch.Tensor, z: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """log N(x; alpha z, sigma^2 I) summed over the non-batch dims: (n, ...) -> (n,)."""
        a, s, _, _ = self.coefficients(t, x)
        elementwise = -0.5 * ((x - a * z) / s) ** 2 - torch.log(s) - 0.5 * LOG_2PI
        return elementwise.reshape(len(x), -1).sum(-1)

    def score_from_noise(self, noise_pred: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """Score = -noise / sigma, since x_t - alpha z = sigma noise.

        The epsilon-parameterisation: a network predicts the bounded noise and the 1 / sigma blow-up
        of the score as sigma -> 0 is applied analytically instead of being learned.
        """
        _, s, _, _ = self.coefficients(t, noise_pred)
        return -noise_pred / s

    def velocity_from_score(
        self, x: torch.Tensor, score: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """u = (d_alpha / alpha) x + (d_alpha sigma^2 / alpha - sigma d_sigma) score.

        Exact for the conditional pair, and (being affine in (x, score) with coefficients that
        depend on t only) for the marginal pair, the posterior means of the conditional ones.
        Singular at alpha = 0, where the score no longer determines the velocity.
        """
        a, s, da, ds = self.coefficients(t, x)
        return (da * x + (da * s**2 - a * s * ds) * score) / a

    def score_from_velocity(
        self, x: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor | float
    ) -> torch.Tensor:
        """Score = (alpha u - d_alpha x) / (d_alpha sigma^2 - alpha sigma d_sigma), the inverse of
        `velocity_from_score`. Finite at alpha = 0 (-x / sigma^2, the N(0, sigma^2 I) score);
        singular at sigma = 0."""
        a, s, da, ds = self.coefficients(t, x)
        return (a * velocity - da * x) / (da * s**2 - a * s * ds)


# ---------------------------------------------------------------- exact Gaussian-mixture marginal


@dataclass(frozen=True, eq=False)
class GaussianMixtureMarginal:
    """Marginal p_t = sum_k w_k N(alpha mu_k, alpha^2 s_k^2 + sigma^2) of a Gaussian path whose
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
        alpha^2 s_k^2 + sigma^2 (s_k the component's std), the log joint log w_k + log N_k(x)
        (n, K), and the path's coefficients."""
        mu = self.means.to(x)  # (K, d)
        var0 = self.stds.to(x) ** 2
        var0 = var0[:, None].expand_as(mu) if var0.ndim == 1 else var0  # (K, d)
        a, s, da, ds = self.path.coefficients(t, x[:, None, :])  # scalar or (n, 1, 1)
        var = a**2 * var0 + s**2
        resid = x[:, None, :] - a * mu
        log_n = -0.5 * (resid**2 / var + torch.log(var) + LOG_2PI).sum(-1)
        log_joint = log_n + torch.log(self.weights.to(x))
        return resid, var, var0, log_joint, (a, s, da, ds)

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
        u_k(x) = d_alpha mu_k + (alpha d_alpha s_k^2 + sigma d_sigma) / var_k (x - alpha mu_k)."""
        resid, var, var0, log_joint, (a, s, da, ds) = self._components(x, t)
        gamma = torch.softmax(log_joint, dim=-1)[..., None]  # (n, K, 1)
        u = da * self.means.to(x) + (a * da * var0 + s * ds) / var * resid
        return (gamma * u).sum(1)
