"""The VE and VP SDEs of lib.sde.score_sde against Song et al.'s closed forms, a simulation of the
forward SDE, the Gaussian path's velocity, the discrete chains' limits, and the exact
log-likelihood of Gaussian(-mixture) data through the probability-flow ODE."""

import math

import pytest
import torch

from lib.flows.likelihood import log_prob_flow
from lib.paths.gaussian import GaussianMixtureMarginal, GaussianPath
from lib.paths.schedules import CosineSchedule
from lib.sde.score_sde import ScoreSDE, diffusion_time, ve_sde, vp_sde
from lib.sde.solvers import euler_maruyama, odeint, time_grid

F64 = torch.float64
SDES = {"ve": lambda: ve_sde(0.01, 5.0), "vp": lambda: vp_sde()}


def _gaussian(sde: ScoreSDE, means, stds, weights=None) -> GaussianMixtureMarginal:
    means, stds = torch.tensor(means, dtype=F64), torch.tensor(stds, dtype=F64)
    weights = torch.ones(len(means), dtype=F64) / len(means) if weights is None else weights
    return GaussianMixtureMarginal(GaussianPath(sde.schedule), means, stds, torch.tensor(weights))


def test_diffusion_time_is_the_one_conversion():
    t = torch.linspace(0, 1, 11, dtype=F64)
    torch.testing.assert_close(diffusion_time(diffusion_time(t)), t, rtol=0, atol=1e-15)
    assert diffusion_time(0.25) == 0.75


@pytest.mark.parametrize("sigma_max", [5.0, 50.0])
def test_ve_drift_diffusion_marginal_are_songs(sigma_max):
    sde, sigma_min = ve_sde(0.01, sigma_max), 0.01
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    for t in torch.linspace(0, 1, 11, dtype=F64):
        s = diffusion_time(t)
        sigma = sigma_min * (sigma_max / sigma_min) ** s
        assert torch.equal(sde.drift(x, t), torch.zeros_like(x))
        g = sigma * math.sqrt(2 * math.log(sigma_max / sigma_min))
        torch.testing.assert_close(sde.diffusion(t), g, rtol=1e-12, atol=0)
        mean, std = sde.marginal(x, t)
        assert torch.equal(mean, x)
        torch.testing.assert_close(std, sigma, rtol=1e-12, atol=0)
    assert sde.kind == "ve" and sde.eps == 1e-5


def test_vp_drift_diffusion_marginal_are_songs():
    sde, b0, b1 = vp_sde(), 0.1, 20.0
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    for t in torch.linspace(0, 0.999, 11, dtype=F64):  # d_sigma is clamped beyond t = 1 - 1e-4
        s = diffusion_time(t)
        beta = b0 + s * (b1 - b0)
        torch.testing.assert_close(sde.drift(x, t), -0.5 * beta * x, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(sde.diffusion(t), beta.sqrt(), rtol=1e-10, atol=0)
        c = -0.25 * s**2 * (b1 - b0) - 0.5 * s * b0
        mean, std = sde.marginal(x, t)
        torch.testing.assert_close(mean, torch.exp(c) * x, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(std, torch.sqrt(1 - torch.exp(2 * c)), rtol=1e-10, atol=0)
    assert sde.kind == "vp" and sde.eps == 1e-3


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_probability_flow_is_the_path_velocity_and_reverse_drift_adds_half_g2_score(kind):
    sde = SDES[kind]()
    gmm = _gaussian(sde, [[0.5, -0.2], [-1.0, 0.4]], [0.3, 0.2], [0.3, 0.7])
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1), dtype=F64) * 2
    for t in (0.0, 0.3, 0.9, 1 - sde.eps):
        score = gmm.score(x, t)
        flow = sde.probability_flow(x, score, t)
        path = GaussianPath(sde.schedule)
        torch.testing.assert_close(flow, path.velocity_from_score(x, score, t))
        torch.testing.assert_close(flow, gmm.velocity(x, t), rtol=1e-8, atol=1e-8)
        extra = sde.reverse_drift(x, score, t) - flow
        torch.testing.assert_close(extra, 0.5 * sde.diffusion(t) ** 2 * score)


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_prior_sample_and_log_prob(kind):
    sde = SDES[kind]()
    std = sde.schedule.prior_std
    x = sde.prior_sample((20000, 1, 2, 2), torch.Generator().manual_seed(0), dtype=F64)
    assert x.shape == (20000, 1, 2, 2) and x.dtype == F64
    assert abs(x.std().item() / std - 1) < 4 * math.sqrt(0.5 / x.numel())  # 4 s.e.
    want = torch.distributions.Normal(0.0, std).log_prob(x).reshape(len(x), -1).sum(-1)
    torch.testing.assert_close(sde.prior_log_prob(x), want)


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_marginals_match_a_simulation_of_the_forward_sde(kind):
    """Euler–Maruyama in the diffusion time s from the data (at s = 0 the path's marginal at
    t = 1: VE keeps noise sigma_min there) with `drift` and `diffusion`: the residual x - alpha z
    has mean 0 and std sigma_t at s = 0.5 and 1; tolerance 4 s.e. of the mean and variance."""
    sde, n, n_steps = SDES[kind](), 4000, 1000
    gen = torch.Generator().manual_seed(2)
    z = 0.5 + 0.3 * torch.randn(n, 2, generator=gen, dtype=F64)
    mean1, std1 = sde.marginal(z, 1.0)
    x1 = mean1 + std1 * torch.randn(n, 2, generator=gen, dtype=F64)

    def drift(x, s):
        return sde.drift(x, diffusion_time(s))

    def diffusion(x, s):
        return sde.diffusion(diffusion_time(s))

    grid = time_grid(0.0, 1.0, n_steps, dtype=F64)
    path = euler_maruyama(drift, diffusion, x1, grid, gen, return_path=True)
    for i in (n_steps // 2, n_steps):
        t = diffusion_time(grid[i])
        mean, std = sde.marginal(z, t)
        resid = (path[i] - mean) / std  # should be N(0, I)
        assert resid.mean(0).abs().max() < 4 / math.sqrt(n)
        assert (resid.var(0) - 1).abs().max() < 4 * math.sqrt(2 / n)


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_chain_levels_sit_at_their_own_noise(kind):
    """Level k at s_k = max(k / (n - 1), eps): t from 0 (level n - 1) to 1 - eps (level 0), the
    steps dt summing to 1; VE's sigma_k is sigma(t_k) and DDPM's beta_k is beta(s_k) / n exactly."""
    sde, n = SDES[kind](), 50
    chain = sde.chain(n)
    assert chain.kind == kind and len(chain) == n
    assert chain.t[-1] == 0 and chain.t[0] == 1 - sde.eps
    torch.testing.assert_close(chain.t[1:], 1 - torch.arange(1, n, dtype=F64) / (n - 1))
    torch.testing.assert_close(chain.dt.sum(), torch.tensor(1.0, dtype=F64))
    g2 = torch.stack([sde.diffusion(t) ** 2 for t in chain.t])
    if kind == "ve":
        sigmas = torch.cumsum(chain.g**2, 0).sqrt()  # sigma_k^2 = sum_{j <= k} G_j^2
        torch.testing.assert_close(sigmas[1:], sde.schedule.sigma(chain.t[1:]))
        torch.testing.assert_close(sigmas[0], torch.tensor(0.01, dtype=F64))
        torch.testing.assert_close(chain.decay, torch.ones(n, dtype=F64))
    else:
        torch.testing.assert_close(chain.g[1:] ** 2, g2[1:] / n)
        torch.testing.assert_close(chain.langevin_alpha, 1 - chain.g**2)
    level = chain.level(n - 1)
    assert level.index == n - 1 and level.t == 0.0 and level.g == chain.g[-1].item()


def test_chain_levels_below_eps_share_t_end():
    """VP with eps = 1e-3 and n = 2001 levels: levels 0, 1, 2 (k / (n - 1) <= eps) sit at
    t = 1 - eps, the score is never evaluated beyond it."""
    sde = vp_sde()
    chain = sde.chain(2001)
    assert (chain.t[:3] == 1 - sde.eps).all() and chain.t[3] < 1 - sde.eps
    assert (chain.dt[1:3] == 0).all() and chain.dt[0] == sde.eps and (chain.t <= 1 - sde.eps).all()


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_discrete_chains_approach_the_sde(kind):
    """Per level k >= 1, with dt = 1 / n: SMLD's G_k^2 -> g^2 dt and DDPM's sqrt(1 - beta_k) x ->
    x + f dt, the relative error shrinking like 1/n (times n it stays within 20% of its value)."""
    sde = SDES[kind]()
    x = torch.ones(1, 1, dtype=F64)
    errors = {}
    for n in (100, 300, 1000):  # n - 1 <= 1 / eps: no level is clamped at s = eps
        chain = sde.chain(n)
        if kind == "ve":
            g2 = torch.stack([sde.diffusion(t) ** 2 for t in chain.t[1:]])
            err = (chain.g[1:] ** 2 / (g2 / n) - 1).abs().max()
        else:
            f = torch.stack([sde.drift(x, t)[0, 0] for t in chain.t[1:]])
            err = ((chain.decay[1:] - 1) / (f / n) - 1).abs().max()
        errors[n] = err.item()
    assert errors[1000] < errors[300] < errors[100] < 0.1
    ratios = [errors[n] * n for n in errors]
    assert max(ratios) / min(ratios) < 1.2, errors


def test_chain_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="n >= 2"):
        ve_sde(0.01, 5.0).chain(1)
    with pytest.raises(ValueError, match="beta_max / n < 1"):
        vp_sde().chain(20)
    with pytest.raises(ValueError, match="'cosine'.*allowed"):
        ScoreSDE(CosineSchedule(), 1e-3).chain(10)
    with pytest.raises(ValueError, match="eps"):
        ScoreSDE(CosineSchedule(), 0.0)
    assert ScoreSDE(CosineSchedule(), 1e-3).kind == "cosine"
    with pytest.raises(ValueError, match="out of range"):
        vp_sde().chain(30).level(30)


N_STEPS = 100
LIKELIHOOD_CASES = {
    "ve_gaussian_2d": ("ve", [[0.5, -0.3]], [[0.3, 0.2]], [1.0]),
    "vp_gaussian_2d": ("vp", [[0.5, -0.3]], [[0.3, 0.2]], [1.0]),
    "ve_mixture_1d": ("ve", [[-1.0], [1.0]], [0.3, 0.5], [0.3, 0.7]),
    "vp_mixture_1d": ("vp", [[-1.0], [1.0]], [0.3, 0.5], [0.3, 0.7]),
}


@pytest.mark.parametrize("case", sorted(LIKELIHOOD_CASES))
def test_unit_prior_field_gives_the_exact_log_likelihood(case):
    """log_prob_flow of `unit_prior_field` is the log-density at t = 1 - eps of the flow from the
    prior N(0, prior_std^2 I): the marginal's log p_{1-eps}(z) plus the prior's mismatch
    log N(x_0; 0, prior_std^2) - log p_0(x_0) at the ODE's start x_0(z). For one Gaussian x_0(z)
    is known in closed form (the flow is affine). rk4, N_STEPS steps: error < 1e-4 nats plus
    1e-5 relative (z reaches the far tails)."""
    kind, means, stds, weights = LIKELIHOOD_CASES[case]
    sde = SDES[kind]()
    gmm = _gaussian(sde, means, stds, weights)
    d = len(means[0])
    z = torch.linspace(-2, 2, 9 * d, dtype=F64).reshape(9, d)
    field = sde.unit_prior_field(sde.probability_flow_field(gmm.score))
    log_p = log_prob_flow(field, z, N_STEPS, "rk4")
    y0 = odeint(field, z, time_grid(1.0, 0.0, N_STEPS, dtype=F64), "rk4")
    x0 = sde.schedule.prior_std * y0
    mismatch = sde.prior_log_prob(x0) - gmm.log_prob(x0, 0.0)
    want = gmm.log_prob(z, 1 - sde.eps) + mismatch
    torch.testing.assert_close(log_p, want, rtol=1e-5, atol=1e-4)
    if len(means) == 1:  # x_t = alpha mu + std_t w with w fixed along the flow
        mu, s = torch.tensor(means, dtype=F64), torch.tensor(stds, dtype=F64)
        m0, sigma0 = sde.marginal(mu, 0.0)
        m1, sigma1 = sde.marginal(mu, 1 - sde.eps)
        a0, a1 = m0 / mu, m1 / mu
        std0, std1 = torch.sqrt(a0**2 * s**2 + sigma0**2), torch.sqrt(a1**2 * s**2 + sigma1**2)
        torch.testing.assert_close(x0, m0 + std0 * (z - m1) / std1, rtol=1e-5, atol=1e-5)
    if kind == "vp":  # alpha_0 = 0.0066: the VP prior N(0, I) is nearly p_0
        assert mismatch.abs().max() < 0.02
