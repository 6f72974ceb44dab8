"""Noise-prediction score matching: the sigma^2 weighting identity, the exact noise predictor of
Gaussian data as the minimiser, and its score as the analytic marginal score."""

import math

import pytest
import torch
from torch import nn

from lib.flows.flow_matching import draw_batch, sample_times, squared_norm
from lib.flows.score_matching import fit, get_loss, noise_loss, score_fn, score_loss
from lib.nets.mlp import MLP
from lib.paths.gaussian import GaussianMixtureMarginal, GaussianPath
from lib.paths.schedules import make_schedule

MU, S, D = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5, 2


class GaussianNoise(nn.Module):
    """Exact noise prediction for z ~ N(mu, s^2 I), plus a perturbation:

    eps(x, t) = E[eps | x_t = x]
              = (1 + scale) sigma (x - alpha mu) / (alpha^2 s^2 + sigma^2) + shift.
    """

    def __init__(self, path: GaussianPath, scale: float = 0.0, shift=(0.0, 0.0)):
        super().__init__()
        self.path, self.scale, self.shift = path, scale, torch.tensor(shift, dtype=torch.float64)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, b, _, _ = self.path.coefficients(t, x)
        return (1 + self.scale) * b * (x - a * MU) / (a**2 * S**2 + b**2) + self.shift


def _gaussian_batch(n: int, seed: int, t_max: float = 1.0):
    gen = torch.Generator().manual_seed(seed)
    z = MU + S * torch.randn(n, D, generator=gen, dtype=torch.float64)
    noise = torch.randn(n, D, generator=gen, dtype=torch.float64)
    return z, noise, sample_times(n, gen, t_max=t_max, dtype=torch.float64)


@pytest.mark.parametrize("schedule", ["linear", "cosine", "sqrt"])
def test_noise_loss_is_sigma_squared_weighted_score_loss(schedule):
    path = GaussianPath(make_schedule(schedule))
    torch.manual_seed(0)
    model = MLP(D, D, [16], "tanh").double()
    z, noise, t = _gaussian_batch(200, 0, t_max=0.99)
    eps = noise_loss(model, path, z, noise, t, reduction="none")
    score = score_loss(model, path, z, noise, t, reduction="none")
    sigma = path.schedule.sigma(t)
    assert eps.shape == score.shape == (200,)
    assert torch.allclose(eps, sigma**2 * score, rtol=1e-10, atol=0)


def test_noise_loss_stays_bounded_where_the_score_loss_explodes():
    path = GaussianPath(make_schedule("linear"))
    exact = GaussianNoise(path)
    z, noise, _ = _gaussian_batch(2000, 1)
    near_one = torch.full((2000,), 1 - 1e-3, dtype=torch.float64)
    # At the optimum, near t = 1 the noise is barely identifiable from x_t: E|eps - eps*|^2 ~ d.
    assert noise_loss(exact, path, z, noise, near_one).item() == pytest.approx(D, rel=0.1)
    assert noise_loss(exact, path, z, noise, torch.ones(2000, dtype=torch.float64)).isfinite()
    assert score_loss(exact, path, z, noise, near_one).item() > 1e6  # ~ d / sigma^2 = 2e6
    clamped = score_loss(exact, path, z, noise, torch.ones(2000, dtype=torch.float64))
    at_t_max = score_loss(exact, path, z, noise, torch.full((2000,), 0.999, dtype=torch.float64))
    assert clamped.isfinite() and clamped == at_t_max  # t is clamped to t_max = 0.999


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_exact_noise_predictor_has_lowest_loss(schedule):
    """L(eps* + delta) - L(eps*) = E|delta|^2 + a zero-mean cross term, on common random numbers."""
    path = GaussianPath(make_schedule(schedule))
    z, noise, t = _gaussian_batch(20000, 2)
    exact = GaussianNoise(path)
    base = noise_loss(exact, path, z, noise, t, reduction="none")
    x = path.sample(z, t, noise).x_t
    for scale, shift in [(0.0, (0.2, -0.2)), (0.3, (0.0, 0.0)), (-0.2, (0.1, 0.0))]:
        perturbed = GaussianNoise(path, scale, shift)
        excess = noise_loss(perturbed, path, z, noise, t, reduction="none") - base
        size = squared_norm(perturbed(x, t) - exact(x, t)).mean()
        se = excess.std() / math.sqrt(len(excess))
        assert excess.mean() > 0
        assert abs(excess.mean() - size) < 5 * se


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_score_fn_of_exact_predictor_is_marginal_score(schedule):
    """-eps*(x, t) / sigma = -(x - alpha mu) / (alpha^2 s^2 + sigma^2), as lib.paths' mixture."""
    path = GaussianPath(make_schedule(schedule))
    marginal = GaussianMixtureMarginal(path, MU[None], torch.tensor([S]), torch.ones(1))
    score = score_fn(GaussianNoise(path), path)
    z, noise, t = _gaussian_batch(500, 3, t_max=0.99)
    x = path.sample(z, t, noise).x_t
    a, b, _, _ = path.coefficients(t, x)
    analytic = -(x - a * MU) / (a**2 * S**2 + b**2)
    assert torch.allclose(score(x, t), analytic, atol=1e-12, rtol=0)
    assert torch.allclose(score(x, t), marginal.score(x, t), atol=1e-10, rtol=0)
    t0 = torch.tensor(0.4, dtype=torch.float64)  # a 0-dim time, as the solvers pass it
    assert torch.allclose(score(x, t0), marginal.score(x, t0), atol=1e-10, rtol=0)


def test_registry_and_a_training_batch():
    assert get_loss("noise") is noise_loss and get_loss("score") is score_loss
    with pytest.raises(ValueError, match="allowed"):
        get_loss("sliced")
    path = GaussianPath(make_schedule("cosine"))
    torch.manual_seed(0)
    model = MLP(D, D, [8])
    data = torch.randn(64, D)
    batch = draw_batch(data, 32, torch.Generator().manual_seed(0), t_max=0.99)
    loss = noise_loss(model, path, *batch)
    loss.backward()
    assert loss.ndim == 0 and all(p.grad is not None for p in model.parameters())


def test_fit_learns_the_marginal_score_of_gaussian_data():
    """A small MLP trained by `fit` on samples of N(mu, s^2 I): its score at t = 0.5, on points
    of p_0.5 = N(mu / 2, (s^2 + 1) / 4), approaches the analytic marginal score (relative L2
    error; the one-sample noise target's variance keeps it from zero at this budget)."""
    path = GaussianPath(make_schedule("linear"))
    gen = torch.Generator().manual_seed(0)
    data = (MU + S * torch.randn(4000, D, generator=gen, dtype=torch.float64)).float()
    exact = GaussianMixtureMarginal(path, MU[None].float(), torch.tensor([S]), torch.ones(1))
    t, sd = torch.tensor(0.5), math.sqrt((S**2 + 1) / 4)
    x = 0.5 * MU.float() + sd * torch.randn(2000, D, generator=gen)
    truth = exact.score(x, t)
    torch.manual_seed(0)
    model = MLP(D, D, [32, 32], "silu")

    def rel_error() -> float:
        with torch.no_grad():
            return ((score_fn(model, path)(x, t) - truth).norm() / truth.norm()).item()

    before = rel_error()
    fit(model, path, data, n_iters=1500, batch_size=256, lr=3e-3, generator=gen, progress=False)
    after = rel_error()
    assert after < 0.25 and after < 0.3 * before, (before, after)  # measured: 1.02 -> 0.17
