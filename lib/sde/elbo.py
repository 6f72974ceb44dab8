"""1D SDE generative model trained by a simulation-free ELBO with a Gaussian posterior process.

Generative: X_0 ~ N(0, 1), dX = f(X, t) dt + sigma(X, t) dW on [0, 1], y | x_1 ~ N(x_1, beta_lik^2).
Posterior: q_t(x | y) = N(alpha(y, t), std(y, t)^2), the marginals of the SDE with diffusion
sigma and drift u (`posterior_drift`). Here sigma is the SDE's diffusion and beta_lik the
observation noise std (names of the stage's params). Girsanov's theorem gives

    log p(y) >= E_{q_1} log N(y; x_1, beta_lik^2) - KL(q_0 || N(0, 1))
                - 1/2 int_0^1 E_{q_t} (f - u)^2 / sigma^2 dt,

the integral estimated with t ~ U(0, 1) and x_t = alpha + std eps: training never simulates.
Since q_1 = N(y, beta_lik^2) by construction, the best bound a model can reach is
E_eps log p_1(y + beta_lik eps), its x_1-density smoothed by beta_lik (not log p(y)): for data
with density p this costs H(p * N(0, beta_lik^2)) - H(p) ~ beta_lik^2 Fisher(p) / 2 nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lib.data.densities import LOG_2PI
from lib.nets.mlp import MLP, Activation
from lib.sde.langevin import score_drift
from lib.sde.solvers import Field, euler_maruyama, time_grid
from lib.training.loop import LrSchedule, TrainResult
from lib.training.loop import train as train_loop

SigmaMode = Literal["learned", "constant"]
BetaLikMode = Literal["fixed", "learned"]


@dataclass(frozen=True)
class SDEConfig:
    hidden: tuple[int, ...] = (64, 64)  # every network: NN_alpha, NN_std, f and NN_sigma
    activation: Activation = "tanh"
    n_freq: int = 0  # Fourier time features of the MLPs (0: t itself)
    sigma_mode: SigmaMode = "learned"
    sigma_value: float = 1.0  # the constant sigma, or the initial sigma when learned
    beta_lik_mode: BetaLikMode = "fixed"
    beta_lik_value: float = 0.1  # the fixed beta_lik, or its initial value when learned


class Posterior(NamedTuple):
    """q_t(x | y) = N(alpha, std^2) and the time derivatives at fixed y; each (n, 1)."""

    alpha: torch.Tensor
    std: torch.Tensor
    d_alpha: torch.Tensor
    d_std: torch.Tensor


def _inv_softplus(value: float) -> float:
    return math.log(math.expm1(value))


class LearnedDiffusion(nn.Module):
    """sigma(x, t) = softplus(NN(x, t) + softplus^-1(sigma_value)): starts near sigma_value."""

    def __init__(self, config: SDEConfig):
        super().__init__()
        self.net = MLP(1, 1, list(config.hidden), config.activation, config.n_freq)
        self.offset = _inv_softplus(config.sigma_value)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.net(x, t) + self.offset)


class ConstantDiffusion(nn.Module):
    """sigma(x, t) = sigma_value."""

    def __init__(self, config: SDEConfig):
        super().__init__()
        self.value = config.sigma_value

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.value)


class FixedScale(nn.Module):
    """beta_lik = beta_lik_value."""

    def __init__(self, config: SDEConfig):
        super().__init__()
        self.register_buffer("value", torch.tensor(config.beta_lik_value))

    def forward(self) -> torch.Tensor:
        return self.value


class LearnedScale(nn.Module):
    """beta_lik = softplus(b) > 0, b initialised to give beta_lik_value."""

    def __init__(self, config: SDEConfig):
        super().__init__()
        self.raw = nn.Parameter(torch.tensor(_inv_softplus(config.beta_lik_value)))

    def forward(self) -> torch.Tensor:
        return F.softplus(self.raw)


SIGMA_MODES: dict[str, Callable[[SDEConfig], nn.Module]] = {
    "learned": LearnedDiffusion,
    "constant": ConstantDiffusion,
}
BETA_LIKS: dict[str, Callable[[SDEConfig], nn.Module]] = {
    "fixed": FixedScale,
    "learned": LearnedScale,
}


def _build(registry: dict[str, Callable[[SDEConfig], nn.Module]], key: str, config: SDEConfig):
    name = getattr(config, key)
    if name not in registry:
        raise ValueError(f"unknown {key} {name!r}; allowed: {sorted(registry)}")
    return registry[name](config)


class SDEModel(nn.Module):
    """Generative SDE (f, sigma, beta_lik) and posterior process (alpha, std) of one config.

    alpha(y, t) = t y + (1 - t) NN_alpha(y, t), std(y, t) = t beta_lik + (1 - t) softplus(NN_std),
    so q_1 = N(y, beta_lik^2) whatever the networks.
    """

    def __init__(self, config: SDEConfig):
        super().__init__()
        self.config = config
        hidden, act, n_freq = list(config.hidden), config.activation, config.n_freq
        self.alpha_net = MLP(1, 1, hidden, act, n_freq)
        self.std_net = MLP(1, 1, hidden, act, n_freq)
        self.drift_net = MLP(1, 1, hidden, act, n_freq)
        self.sigma = _build(SIGMA_MODES, "sigma_mode", config)
        self.scale = _build(BETA_LIKS, "beta_lik_mode", config)

    def beta_lik(self) -> torch.Tensor:
        """Observation noise std (0-dim)."""
        return self.scale()

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """f(x, t): x (n, 1), t 0-dim or (n, 1) -> (n, 1)."""
        return self.drift_net(x, t)

    def diffusion(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """sigma(x, t) > 0: x (n, 1), t 0-dim or (n, 1) -> (n, 1)."""
        return self.sigma(x, t)

    def mean_std(self, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha(y, t), std(y, t)): y, t (n, 1)."""
        alpha = t * y + (1 - t) * self.alpha_net(y, t)
        std = t * self.beta_lik() + (1 - t) * F.softplus(self.std_net(y, t))
        return alpha, std

    def posterior(self, y: torch.Tensor, t: torch.Tensor) -> Posterior:
        """(alpha, std, d_alpha, d_std) at y, t (n, 1); d/dt exact by forward-mode autodiff."""
        (alpha, std), (d_alpha, d_std) = torch.func.jvp(
            lambda t: self.mean_std(y, t), (t,), (torch.ones_like(t),)
        )
        return Posterior(alpha, std, d_alpha, d_std)


def diffusion_sq_and_slope(
    diffusion: Field, x: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma^2, d sigma^2 / dx) at (x, t), exact by forward-mode autodiff (sigma acts per row)."""
    return torch.func.jvp(lambda x: diffusion(x, t) ** 2, (x,), (torch.ones_like(x),))


def posterior_drift(
    x: torch.Tensor, q: Posterior, sigma_sq: torch.Tensor, d_sigma_sq: torch.Tensor
) -> torch.Tensor:
    """Drift (n, 1) whose SDE with diffusion sigma keeps N(alpha, std^2); z = (x - alpha) / std:

        u = d_alpha + d_std z + 1/2 d_x sigma^2 - 1/2 sigma^2 z / std.

    u = v + 1/2 d_x sigma^2 + 1/2 sigma^2 d_x log q, with v = d_alpha + d_std z the ODE velocity
    of the Gaussian path, so the Fokker–Planck flux u q - 1/2 d_x (sigma^2 q) is v q.
    """
    z = (x - q.alpha) / q.std
    # score_drift of d_x log q = -z / std, written -(1/2 sigma^2 z) / std: the trained models'
    # rounding depends on this order.
    return q.d_alpha + q.d_std * z + 0.5 * d_sigma_sq - score_drift(z, sigma_sq) / q.std


def kl_to_standard_normal(alpha: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(alpha, std^2) || N(0, 1)) = 1/2 (alpha^2 + std^2 - 1 - log std^2)."""
    return 0.5 * (alpha**2 + std**2 - 1 - 2 * torch.log(std))


def expected_log_lik(
    y: torch.Tensor, alpha: torch.Tensor, std: torch.Tensor, beta_lik: torch.Tensor
) -> torch.Tensor:
    """E_{x ~ N(alpha, std^2)} log N(y; x, beta_lik^2)
    = log N(y; alpha, beta_lik^2) - std^2 / (2 beta_lik^2)."""
    return -0.5 * (((y - alpha) ** 2 + std**2) / beta_lik**2 + LOG_2PI) - torch.log(beta_lik)


@dataclass(frozen=True)
class ElboTerms:
    log_lik: torch.Tensor  # (n,) E_{q_1} log N(y; x_1, beta_lik^2), closed form
    kl_0: torch.Tensor  # (n,) KL(q_0 || N(0, 1)), closed form
    path: torch.Tensor  # (n, n_samples) 1/2 (f - u)^2 / sigma^2 at draws t ~ U(0,1), x ~ q_t

    def elbo(self) -> torch.Tensor:
        """Per-point Monte Carlo ELBO (n,)."""
        return self.log_lik - self.kl_0 - self.path.mean(1)


def elbo_terms(
    model: SDEModel, y: torch.Tensor, n_samples: int, generator: torch.Generator | None = None
) -> ElboTerms:
    """The ELBO's three terms at y (n, 1), with n_samples draws of (t, eps) per point.

    Noise is drawn on the generator's device (default y's) and moved to y's device.
    """
    n = len(y)
    y = y.reshape(n, 1)
    zeros, ones = torch.zeros_like(y), torch.ones_like(y)
    kl_0 = kl_to_standard_normal(*model.mean_std(y, zeros))
    log_lik = expected_log_lik(y, *model.mean_std(y, ones), model.beta_lik())

    y_rep = y.repeat_interleave(n_samples, dim=0)  # (n * n_samples, 1), point-major
    noise_device = generator.device if generator is not None else y.device
    t = torch.rand(y_rep.shape, generator=generator, device=noise_device, dtype=y.dtype)
    eps = torch.randn(y_rep.shape, generator=generator, device=noise_device, dtype=y.dtype)
    t, eps = t.to(y.device), eps.to(y.device)
    q = model.posterior(y_rep, t)
    x = q.alpha + q.std * eps
    sigma_sq, d_sigma_sq = diffusion_sq_and_slope(model.diffusion, x, t)
    u = posterior_drift(x, q, sigma_sq, d_sigma_sq)
    path = 0.5 * (model.drift(x, t) - u) ** 2 / sigma_sq
    return ElboTerms(log_lik[:, 0], kl_0[:, 0], path.reshape(n, n_samples))


def elbo(
    model: SDEModel, y: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-point Monte Carlo ELBO (n,) of y (n, 1); differentiable (n_samples = 1 for training)."""
    return elbo_terms(model, y, n_samples, generator).elbo()


def evaluate_elbo(
    model: SDEModel,
    y: torch.Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
    chunk: int = 2000,
) -> tuple[float, float]:
    """(mean over points of the MC ELBO, its Monte Carlo standard error); no grad, `chunk` points
    (each with n_samples draws) per pass.

    The standard error is that of the time-integral estimate given the points,
    sqrt(sum_i var_i / n_samples) / n with var_i the sample variance of point i's draws: the test
    mean ELBO is compared with the mean log p of the same points, so the spread of the points
    themselves (sd over points / sqrt(n), shared with the truth) is not part of the error.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 to estimate a standard error, got {n_samples}")
    values, variances = [], []
    with torch.no_grad():
        for y_chunk in y.split(chunk):
            terms = elbo_terms(model, y_chunk, n_samples, generator)
            values.append(terms.elbo().double())
            variances.append(terms.path.double().var(1) / n_samples)
    mean = torch.cat(values).mean().item()
    stderr = torch.cat(variances).sum().sqrt().item() / len(y)
    return mean, stderr


def objective_sd(
    model: SDEModel,
    data: torch.Tensor,
    batch_size: int,
    n_batches: int,
    generator: torch.Generator | None = None,
) -> float:
    """Standard deviation of the training objective (one-sample -mean ELBO of a random batch) at
    fixed parameters, over n_batches batches: batch sampling and (t, eps) noise together."""
    losses = []
    with torch.no_grad():
        for _ in range(n_batches):
            idx = torch.randperm(len(data), generator=generator)[:batch_size].to(data.device)
            losses.append(-elbo(model, data[idx], 1, generator).mean().item())
    return float(torch.tensor(losses, dtype=torch.float64).std())


def fit(
    model: SDEModel,
    train: torch.Tensor,
    val: torch.Tensor,
    *,
    n_iters: int,
    batch_size: int,
    lr: float,
    eval_every: int = 200,
    n_eval_samples: int = 4,
    lr_schedule: LrSchedule = "cosine",
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> TrainResult:
    """`lib.training.train` on the one-sample -mean ELBO of mini-batches of `train` (parameters
    with requires_grad only, so parts can be frozen); returns its result, val_values being the
    mean validation ELBO.

    The validation ELBO (n_eval_samples draws per point) is measured every eval_every iterations
    and at the end, always with the same (t, eps) draws: common random numbers, so checkpoints are
    compared without the Monte Carlo noise that would otherwise pick a lucky one. The best
    parameters are loaded back into `model`. Batches are drawn without replacement from
    `generator` (CPU), which also draws the ELBO's noise and the validation seed.
    """
    val_device = generator.device if generator is not None else val.device
    val_seed = int(torch.randint(2**62, (), generator=generator, device=val_device))

    def loss(it: int) -> torch.Tensor:
        idx = torch.randperm(len(train), generator=generator)[:batch_size].to(train.device)
        return -elbo(model, train[idx], 1, generator).mean()

    def validate(m: SDEModel) -> float:
        val_generator = torch.Generator(device=val_device).manual_seed(val_seed)
        return evaluate_elbo(m, val, n_eval_samples, val_generator)[0]

    return train_loop(
        model,
        loss,
        n_iters=n_iters,
        lr=lr,
        lr_schedule=lr_schedule,
        validate=validate,
        eval_every=eval_every,
        progress=progress,
        desc="sde elbo fit",
    )


def sample_paths(
    model: SDEModel,
    n: int,
    n_steps: int,
    generator: torch.Generator | None = None,
    return_path: bool = True,
) -> torch.Tensor:
    """Euler–Maruyama from X_0 ~ N(0, 1): the path (n_steps + 1, n, 1), or X_1 (n, 1).

    Runs on the model's device; noise comes from `generator`, which must live on that device.
    """
    p = next(model.parameters())
    x0 = torch.randn(n, 1, generator=generator, device=p.device, dtype=p.dtype)
    grid = time_grid(0.0, 1.0, n_steps, p.device, p.dtype)
    with torch.no_grad():
        return euler_maruyama(model.drift, model.diffusion, x0, grid, generator, return_path)


def log_density(
    model: SDEModel,
    grid: torch.Tensor,
    n_mc: int,
    n_steps: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log p(y) on grid (m,) or (m, 1) -> (m,): p(y) ~ 1/n_mc sum_j N(y; x_1^j, beta_lik^2), with
    x_1^j simulated by Euler–Maruyama (a kernel density estimate of bandwidth beta_lik)."""
    x1 = sample_paths(model, n_mc, n_steps, generator, return_path=False)[:, 0]  # (n_mc,)
    b = model.beta_lik().detach()
    z = (grid.reshape(-1, 1) - x1[None, :]) / b  # (m, n_mc)
    log_n = -0.5 * z**2 - torch.log(b) - 0.5 * LOG_2PI
    return torch.logsumexp(log_n, dim=1) - math.log(n_mc)
