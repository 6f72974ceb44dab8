"""SDE ELBO: u keeps the Gaussian marginals, the bound against an exactly solvable SDE, the
closed-form terms against Monte Carlo, the standard error, shapes, registries and gradients."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from lib.sde.elbo import (
    ElboTerms,
    Posterior,
    SDEConfig,
    SDEModel,
    diffusion_sq_and_slope,
    elbo,
    elbo_terms,
    evaluate_elbo,
    expected_log_lik,
    fit,
    kl_to_standard_normal,
    log_density,
    objective_sd,
    posterior_drift,
    sample_paths,
)
from lib.sde.solvers import euler_maruyama, time_grid

# A hand-written posterior path for one y: alpha = t y + (1 - t) m, std = t b1 + (1 - t) b0.
Y, M, B0, B1 = 2.0, -1.0, 1.0, 0.3


def _line_posterior(t: torch.Tensor) -> Posterior:
    one = torch.ones((), dtype=torch.float64)
    return Posterior(t * Y + (1 - t) * M, t * B1 + (1 - t) * B0, (Y - M) * one, (B1 - B0) * one)


def _sigma(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A diffusion that depends on x and t, so the 1/2 d_x sigma^2 term matters."""
    return 0.3 + 0.6 * F.softplus(x) + 0.2 * t


def _simulate_u(n: int, n_steps: int, with_slope: bool) -> torch.Tensor:
    """Euler–Maruyama with drift u (the ELBO's code) from q_0: path (n_steps + 1, n, 1)."""

    def drift(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        sigma_sq, d_sigma_sq = diffusion_sq_and_slope(_sigma, x, t)
        return posterior_drift(x, _line_posterior(t), sigma_sq, d_sigma_sq * with_slope)

    gen = torch.Generator().manual_seed(0)
    x0 = M + B0 * torch.randn(n, 1, generator=gen, dtype=torch.float64)
    grid = time_grid(0.0, 1.0, n_steps, dtype=torch.float64)
    return euler_maruyama(drift, _sigma, x0, grid, gen, return_path=True)


def test_posterior_drift_keeps_gaussian_marginals():
    n, n_steps = 20000, 400
    path = _simulate_u(n, n_steps, with_slope=True)
    for t in (0.5, 1.0):
        x = path[round(t * n_steps)]
        q = _line_posterior(torch.tensor(t, dtype=torch.float64))
        mean_se = q.std.item() / math.sqrt(n)
        var_se = q.std.item() ** 2 * math.sqrt(2 / n)
        # 4 standard errors; the variance also has Euler–Maruyama's O(h) bias: about 3 s.e.
        # (+3%) at t = 1 with h = 1/400, where u contracts at rate sigma^2 / (2 std^2) ~ 14; it
        # falls below 1 s.e. at h = 1/1600.
        assert abs(x.mean().item() - q.alpha.item()) < 4 * mean_se
        assert abs(x.var().item() - q.std.item() ** 2) < 4 * var_se + 0.03 * q.std.item() ** 2
    # Power: without the 1/2 d_x sigma^2 term the mean at t = 1 is off by about 30 s.e.
    wrong = _simulate_u(n, n_steps, with_slope=False)[-1]
    assert abs(wrong.mean().item() - Y) > 15 * B1 / math.sqrt(n)


def _brownian_model(s: float, beta_lik: float) -> SDEModel:
    """f = 0 (frozen), sigma = s, fixed beta_lik: X_1 ~ N(0, 1 + s^2), y ~ N(0, 1 + s^2 + b^2)."""
    torch.manual_seed(0)
    model = SDEModel(
        SDEConfig(hidden=(32, 32), sigma_mode="constant", sigma_value=s, beta_lik_value=beta_lik)
    )
    with torch.no_grad():
        model.drift_net.net[-1].weight.zero_()
        model.drift_net.net[-1].bias.zero_()
    model.drift_net.requires_grad_(False)
    return model


def _normal_log_pdf(y: torch.Tensor, var: float) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi * var) + y**2 / var)


def test_untrained_elbo_is_below_log_likelihood():
    s, beta_lik = 0.5, 0.3
    model = _brownian_model(s, beta_lik)
    y = torch.tensor([[-3.0], [-1.0], [0.0], [0.5], [2.0], [4.0]])
    terms = elbo_terms(model, y, 4000, torch.Generator().manual_seed(0))
    stderr = terms.path.std(1) / math.sqrt(4000)
    log_p = _normal_log_pdf(y[:, 0], 1 + s**2 + beta_lik**2)
    assert torch.all(terms.elbo() <= log_p + 3 * stderr)


@pytest.mark.slow
@pytest.mark.parametrize("beta_lik", [0.1, 0.3])
def test_trained_posterior_reaches_the_best_bound_of_its_family(beta_lik):
    """With q_1 = N(y, beta_lik^2) imposed the bound is not tight: its best value is reached by
    q = q_1 x (prior bridge given x_1), which this Gaussian family contains (linear drift), and is
    E_eps log p_1(y + beta_lik eps) = log N(y; 0, v) - beta_lik^2 / (2 v), v = 1 + s^2: below
    log p(y) by KL(N(y, beta_lik^2) || p(x_1 | y)), on average
    beta_lik^2 / v - 1/2 log(1 + beta_lik^2 / v): 0.0040 nats for beta_lik = 0.1, 0.037 for 0.3.
    """
    s = 0.5
    v = 1 + s**2
    gen = torch.Generator().manual_seed(1)
    train, val, test = (
        math.sqrt(v + beta_lik**2) * torch.randn(2000, 1, generator=gen) for _ in range(3)
    )
    model = _brownian_model(s, beta_lik)
    kwargs = dict(n_iters=800, batch_size=256, lr=5e-3, eval_every=400, n_eval_samples=4)
    result = fit(model, train, val, **kwargs, generator=gen, progress=False)
    assert result.val_iters == [400, 800] and result.best_iter in (400, 800)
    value, stderr = evaluate_elbo(model, test, 200, gen)
    best = (_normal_log_pdf(test, v) - beta_lik**2 / (2 * v)).mean().item()
    truth = _normal_log_pdf(test, v + beta_lik**2).mean().item()
    gap = beta_lik**2 / v - 0.5 * math.log(1 + beta_lik**2 / v)
    assert truth - best == pytest.approx(gap, abs=0.003)  # sampling noise of the 2000 points
    # The path term's variance grows as beta_lik shrinks: s.e. 0.006 (0.1), 0.0016 (0.3).
    assert stderr < 0.01
    assert value <= best + 3 * stderr
    assert value > best - 0.02  # measured over 4 seeds: best - 0.011 to best + 0.002
    if beta_lik == 0.1:
        assert truth - value < 0.03
    else:
        assert truth - value > 0.025  # the family's gap, not a training failure


def test_brownian_model_density_and_paths():
    s, beta_lik = 0.5, 0.3
    model = _brownian_model(s, beta_lik)
    gen = torch.Generator().manual_seed(2)
    path = sample_paths(model, 20000, 50, gen)
    assert path.shape == (51, 20000, 1)
    # Var X_1 = 1 + s^2 = 1.25; standard error 1.25 sqrt(2 / 20000) = 0.0125.
    assert path[-1].var().item() == pytest.approx(1 + s**2, abs=0.05)
    grid = torch.linspace(-2.0, 2.0, 9)
    log_p = log_density(model, grid, 20000, 50, gen)
    assert log_p.shape == (9,)
    # A KDE of 20000 points: relative error of p about 1% at the centre, 3% at |y| = 2.
    assert torch.allclose(log_p, _normal_log_pdf(grid, 1 + s**2 + beta_lik**2), atol=0.06)


def _random_model(sigma_mode: str = "learned", beta_lik_mode: str = "learned") -> SDEModel:
    torch.manual_seed(0)
    config = SDEConfig(
        hidden=(16, 16),
        activation="silu",
        sigma_mode=sigma_mode,
        beta_lik_mode=beta_lik_mode,
        beta_lik_value=0.4,
    )
    return SDEModel(config).double()


def test_closed_form_terms_match_monte_carlo():
    model = _random_model()
    y = torch.tensor([[-2.0], [0.3], [1.5]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    n = 200000
    terms = elbo_terms(model, y, 2, gen)
    with torch.no_grad():
        a0, b0 = model.mean_std(y, torch.zeros_like(y))
        a1, b1 = model.mean_std(y, torch.ones_like(y))
        assert torch.allclose(a1, y) and torch.allclose(b1, model.beta_lik().expand_as(b1))
        eps = torch.randn(3, n, generator=gen, dtype=torch.float64)
        # KL(q_0 || N(0,1)) = E_{q_0}[log q_0(x) - log N(x; 0, 1)], x = a0 + b0 eps.
        x0 = a0 + b0 * eps
        kl_mc = (-0.5 * eps**2 - torch.log(b0) + 0.5 * x0**2).mean(1)
        kl_se = (-0.5 * eps**2 + 0.5 * x0**2).std(1) / math.sqrt(n)
        assert torch.all((terms.kl_0 - kl_mc).abs() < 4 * kl_se)
        # E_{q_1} log N(y; x_1, beta_lik^2) with the model's q_1, then with q_1 off y.
        b = model.beta_lik()
        for alpha, std in ((a1, b1), (a1 + 0.7, 1.5 * b1)):
            x1 = alpha + std * eps
            ll = -0.5 * ((y - x1) / b) ** 2 - torch.log(b) - 0.5 * math.log(2 * math.pi)
            ll_se = ll.std(1) / math.sqrt(n)
            closed = expected_log_lik(y, alpha, std, b)[:, 0]
            assert torch.all((closed - ll.mean(1)).abs() < 4 * ll_se)
        assert torch.allclose(terms.log_lik, expected_log_lik(y, a1, b1, b)[:, 0])
        assert torch.allclose(terms.kl_0, kl_to_standard_normal(a0, b0)[:, 0])


def test_evaluate_elbo_stderr_matches_spread_over_seeds():
    model = _random_model().float()
    y = torch.linspace(-3, 3, 200)[:, None]
    runs = [
        evaluate_elbo(model, y, 8, torch.Generator().manual_seed(k), chunk=64) for k in range(30)
    ]
    means = torch.tensor([m for m, _ in runs], dtype=torch.float64)
    stderr = torch.tensor([s for _, s in runs], dtype=torch.float64).mean()
    # The sd of 30 draws estimates the true s.e. within ~13% (1 s.d.); allow 40%.
    assert means.std().item() == pytest.approx(stderr.item(), rel=0.4)
    with pytest.raises(ValueError, match="n_samples"):
        evaluate_elbo(model, y, 1)


@pytest.mark.parametrize("sigma_mode", ["learned", "constant"])
@pytest.mark.parametrize("beta_lik_mode", ["fixed", "learned"])
def test_shapes_and_gradients_reach_every_parameter(sigma_mode, beta_lik_mode):
    model = _random_model(sigma_mode, beta_lik_mode)
    y = torch.randn(7, 1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(4)
    assert elbo_terms(model, y, 3, gen).path.shape == (7, 3)
    q = model.posterior(y, torch.rand(7, 1, dtype=torch.float64))
    assert all(part.shape == (7, 1) for part in q)
    value = elbo(model, y, 3, gen)
    assert value.shape == (7,)
    value.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.diffusion(y, torch.tensor(0.5)).shape == (7, 1)


def test_unknown_modes_raise():
    with pytest.raises(ValueError, match="sigma_mode 'linear'.*allowed"):
        SDEModel(SDEConfig(sigma_mode="linear"))
    with pytest.raises(ValueError, match="beta_lik_mode 'free'.*allowed"):
        SDEModel(SDEConfig(beta_lik_mode="free"))
    with pytest.raises(ValueError, match="lr_schedule"):
        fit(
            SDEModel(SDEConfig()),
            torch.zeros(4, 1),
            torch.zeros(4, 1),
            n_iters=1,
            batch_size=2,
            lr=1e-3,
            lr_schedule="step",
        )


@pytest.mark.parametrize("chunk", [1, 2, 5, 2000])
def test_evaluate_elbo_mean_and_stderr_by_hand(monkeypatch, chunk):
    """With known per-draw path terms: mean = mean_i (log_lik_i - kl_i - mean_j path_ij), and
    s.e. = sqrt(sum_i var_i / n_samples) / n with var_i the n - 1 sample variance of point i's
    draws. Two draws (a, b) have var = (a - b)^2 / 2 (ddof 1), not (a - b)^2 / 4 (ddof 0)."""
    draws = torch.tensor([[0.0, 2.0], [1.0, 1.0], [3.0, -1.0], [0.5, 4.5], [2.0, 2.0]])
    kl = torch.tensor([0.5, 0.0, 1.0, 0.0, 0.25])

    def fake_terms(model, y, n_samples, generator=None):  # y: (m, 1), the point indices
        assert n_samples == 2 and len(y) <= chunk
        idx = y[:, 0].long()
        return ElboTerms(log_lik=y[:, 0], kl_0=kl[idx], path=draws[idx])

    monkeypatch.setattr("lib.sde.elbo.elbo_terms", fake_terms)
    y = torch.arange(5.0)[:, None]
    mean, stderr = evaluate_elbo(None, y, 2, chunk=chunk)
    # log_lik 0..4 (mean 2), kl mean 0.35, path means 1, 1, 1, 2.5, 2 (mean 1.5).
    assert mean == pytest.approx(2.0 - 0.35 - 1.5, abs=1e-12)
    # var_i = 2, 0, 8, 8, 0: sqrt(18 / 2) / 5 = 0.6 (ddof 0 would give sqrt(4.5) / 5 = 0.42).
    assert stderr == pytest.approx(0.6, abs=1e-12)


def test_objective_sd_is_the_sample_sd_of_the_batch_objectives(monkeypatch):
    """The k-th batch's one-sample ELBO is made v_k at every point, so the objective is -v_k and
    its sd over 3 batches is the n - 1 sample sd of (0, 1, 5): sqrt(14 / 2) = sqrt 7 (ddof 0
    would give sqrt(14 / 3))."""
    values = iter([0.0, 1.0, 5.0])

    def fake_elbo(model, y, n_samples=1, generator=None):
        assert n_samples == 1
        return torch.full((len(y),), next(values))

    monkeypatch.setattr("lib.sde.elbo.elbo", fake_elbo)
    data = torch.randn(10, 1, generator=torch.Generator().manual_seed(0))
    sd = objective_sd(None, data, 4, 3, torch.Generator().manual_seed(1))
    assert sd == pytest.approx(math.sqrt(7.0), abs=1e-12)


def _fit_small(global_seed: int, keep_start: bool = False):
    """A small SDE model fitted 40 steps to N(-1, 2^2) data from `generator` only."""
    torch.manual_seed(0)
    model = SDEModel(SDEConfig(hidden=(8,), sigma_mode="constant", sigma_value=0.5))
    start = copy.deepcopy(model) if keep_start else None
    gen = torch.Generator().manual_seed(1)
    train = -1 + 2 * torch.randn(300, 1, generator=torch.Generator().manual_seed(2))
    val = -1 + 2 * torch.randn(100, 1, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(global_seed)  # must not matter
    if keep_start:
        return model, start, train, val, gen
    result = fit(
        model,
        train,
        val,
        n_iters=40,
        batch_size=100,
        lr=0.03,
        eval_every=20,
        n_eval_samples=3,
        lr_schedule="constant",
        generator=gen,
        progress=False,
    )
    return model, val, result


def test_fit_raises_the_elbo_with_common_random_numbers_for_validation():
    """The loss (-ELBO of a batch) falls; validation uses the same (t, eps) draws every time,
    from a seed that is the generator's first draw, so the kept weights re-score exactly."""
    model, val, result = _fit_small(0)
    assert len(result.train_loss) == 40 and result.val_iters == [20, 40]
    assert sum(result.train_loss[-10:]) < sum(result.train_loss[:10])
    g = torch.Generator().manual_seed(1)
    seed = int(torch.randint(2**62, (), generator=g))
    again = evaluate_elbo(model, val, 3, torch.Generator().manual_seed(seed))[0]
    assert again == result.best_value == max(result.val_values)
    # the starting weights score lower on the same draws: the fit climbs the ELBO
    _, start, train, _, _ = _fit_small(0, keep_start=True)
    before = evaluate_elbo(start, val, 3, torch.Generator().manual_seed(seed))[0]
    assert result.best_value > before + 0.05, (before, result.best_value)
    # the first loss is the one-sample -ELBO of the first batch, drawn after the seed
    idx = torch.randperm(300, generator=g)[:100]
    with torch.no_grad():
        first = -elbo(start, train[idx], 1, g).mean().item()
    assert result.train_loss[0] == pytest.approx(first, rel=1e-6)


def test_fit_depends_on_its_generator_only():
    a, b = _fit_small(0), _fit_small(99)
    assert a[2].train_loss == b[2].train_loss and a[2].val_values == b[2].val_values


def test_objective_sd_of_a_real_model_is_reproducible_from_its_generator():
    """The sd of the one-sample -ELBO over batches: batches and noise come from `generator`
    alone, in that order, so a replay with the same seed gives the same batch objectives."""
    torch.manual_seed(0)
    model = SDEModel(SDEConfig(hidden=(8,), sigma_mode="constant", sigma_value=0.5))
    data = torch.randn(50, 1, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(9)  # must not matter
    sd = objective_sd(model, data, 10, 5, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    losses = []
    with torch.no_grad():
        for _ in range(5):
            idx = torch.randperm(50, generator=g)[:10]
            losses.append(-elbo(model, data[idx], 1, g).mean().item())
    assert sd == pytest.approx(float(torch.tensor(losses, dtype=torch.float64).std()), rel=1e-9)
    assert sd > 0


def test_sample_paths_start_from_the_generators_standard_normal_draws():
    torch.manual_seed(0)
    model = SDEModel(SDEConfig(hidden=(8,), sigma_mode="constant", sigma_value=0.5)).double()
    torch.manual_seed(7)  # must not matter
    path = sample_paths(model, 5, 4, torch.Generator().manual_seed(1))
    x0 = torch.randn(5, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert path.shape == (5, 5, 1) and path.dtype == torch.float64
    torch.testing.assert_close(path[0], x0)
    end = sample_paths(model, 5, 4, torch.Generator().manual_seed(1), return_path=False)
    torch.testing.assert_close(end, path[-1])


class _AnalyticModel(SDEModel):
    """alpha = t y + (1 - t) c, std = t beta + (1 - t) s0 (so d_alpha = y - c, d_std = beta - s0),
    drift f(x, t) = -a x, constant sigma: every ELBO term has a closed form given the draws."""

    c, s0, a = 0.4, 1.3, 0.7

    def mean_std(self, y, t):
        return t * y + (1 - t) * self.c, t * self.beta_lik() + (1 - t) * self.s0

    def drift(self, x, t):
        return -self.a * x


def test_elbo_terms_equal_their_closed_forms_on_the_replayed_draws():
    sigma, beta = 0.8, 0.3
    model = _AnalyticModel(
        SDEConfig(hidden=(4,), sigma_mode="constant", sigma_value=sigma, beta_lik_value=beta)
    ).double()
    y = torch.tensor([[0.5], [-1.0], [2.0]], dtype=torch.float64)
    terms = elbo_terms(model, y, 4, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    y_rep = y.repeat_interleave(4, dim=0)
    t = torch.rand(y_rep.shape, generator=g, dtype=torch.float64)
    eps = torch.randn(y_rep.shape, generator=g, dtype=torch.float64)
    c, s0, a = model.c, model.s0, model.a
    alpha, std = t * y_rep + (1 - t) * c, t * beta + (1 - t) * s0
    x = alpha + std * eps
    z = (x - alpha) / std
    u = (y_rep - c) + (beta - s0) * z - 0.5 * sigma**2 * z / std  # d_x sigma^2 = 0
    path = 0.5 * (-a * x - u) ** 2 / sigma**2
    torch.testing.assert_close(terms.path, path.reshape(3, 4))
    # t = 1: q_1 = N(y, beta^2), so E log N(y; x, beta^2) = log N(0; 0, beta^2) - 1/2
    log_lik = -0.5 * math.log(2 * math.pi * beta**2) - 0.5
    torch.testing.assert_close(terms.log_lik, torch.full((3,), log_lik, dtype=torch.float64))
    kl_0 = 0.5 * (c**2 + s0**2 - 1 - 2 * math.log(s0))  # t = 0: q_0 = N(c, s0^2)
    torch.testing.assert_close(terms.kl_0, torch.full((3,), kl_0, dtype=torch.float64))
    torch.testing.assert_close(terms.elbo(), log_lik - kl_0 - path.reshape(3, 4).mean(1))


def test_model_pieces_have_their_documented_forms():
    torch.manual_seed(0)
    model = SDEModel(SDEConfig(hidden=(4,), n_freq=3, sigma_value=0.7, beta_lik_value=0.2))
    assert model.config.n_freq == 3
    for net in (model.alpha_net, model.std_net, model.drift_net, model.sigma.net):
        assert net.time is not None  # Fourier time features, as configured
    y, t = torch.tensor([[0.3], [-1.2]]), torch.tensor([[0.25], [0.25]])
    alpha, std = model.mean_std(y, t)
    torch.testing.assert_close(alpha, 0.25 * y + 0.75 * model.alpha_net(y, t))
    torch.testing.assert_close(std, 0.25 * 0.2 + 0.75 * F.softplus(model.std_net(y, t)))
    with torch.no_grad():  # a zero network leaves sigma at its initial value exactly
        for p in model.sigma.net.parameters():
            p.zero_()
    torch.testing.assert_close(model.diffusion(y, t), torch.full_like(y, 0.7))
    # d sigma^2 / dx by forward mode, for sigma(x) = 1 + x^2: sigma^2 = (1 + x^2)^2
    x = torch.tensor([[0.5], [-2.0]], dtype=torch.float64)
    sq, slope = diffusion_sq_and_slope(lambda x, t: 1 + x**2, x, t)
    torch.testing.assert_close(sq, (1 + x**2) ** 2)
    torch.testing.assert_close(slope, 4 * x * (1 + x**2))


def test_posterior_drift_by_numbers():
    """x = 2, alpha = 1, std = 0.5 (z = 2), d_alpha = 0.3, d_std = -0.1, sigma^2 = 0.64,
    d sigma^2 / dx = 0.2: u = 0.3 - 0.2 + 0.1 - 0.5 * 0.64 * 2 / 0.5 = -1.08."""
    one = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    q = Posterior(one(1.0), one(0.5), one(0.3), one(-0.1))
    u = posterior_drift(one(2.0), q, one(0.64), one(0.2))
    torch.testing.assert_close(u, one(-1.08))
