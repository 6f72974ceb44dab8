"""CNF log-likelihood against linear flows with Gaussian marginals, orders, gradients and a fit."""

import copy
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from lib.data.toy import make_density, make_splits
from lib.flows.cnf import (
    StandardizedField,
    divergence,
    fit,
    integrate_to_base,
    integrator_convergence,
    log_prob,
    objective_sd,
    sample,
)
from lib.nets.mlp import MLP
from lib.sde.solvers import odeint, time_grid


def _linear_field(a_scale: float, b_scale: float):
    """f(x, t) = a(t) x + b(t), a = a_scale (0.5 + 0.3 cos 3t), b = b_scale sin 2t.

    x_1 = e^A x_0 + c with A = int_0^1 a, c = int_0^1 e^{A - A(s)} b(s) ds, so from N(0, 1) at
    t = 0 the marginal at t = 1 is N(c, e^{2A}). Returns (field, A, c).
    """

    def a_integral(s: float) -> float:  # int_0^s a
        return a_scale * (0.5 * s + 0.1 * math.sin(3 * s))

    big_a = a_integral(1.0)
    c = quad(lambda s: math.exp(big_a - a_integral(s)) * b_scale * math.sin(2 * s), 0, 1)[0]

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return a_scale * (0.5 + 0.3 * torch.cos(3 * t)) * x + b_scale * torch.sin(2 * t)

    return field, big_a, c


def _gaussian_log_pdf(y: torch.Tensor, mean: float, log_std: float) -> torch.Tensor:
    return -0.5 * ((y - mean) / math.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)


def _random_mlp(d: int, n_freq: int = 2) -> MLP:
    torch.manual_seed(0)
    return MLP(d, d, [16, 16], "tanh", n_freq).double()


def test_log_prob_matches_linear_flow_1d():
    field, big_a, c = _linear_field(1.0, 1.0)
    y = torch.linspace(-4.0, 6.0, 21, dtype=torch.float64)[:, None]
    exact = _gaussian_log_pdf(y[:, 0], c, big_a)
    # rk4's global error is O(h^4): ~1e-7 here at h = 1/20 (1e-6 at h = 1/10); a wrong sign or
    # a missing term in dl/dt is off by O(1).
    assert torch.allclose(log_prob(field, y, 20, "rk4"), exact, atol=1e-6, rtol=0)


def test_log_prob_sums_divergence_over_dimensions_2d():
    f1, a1, c1 = _linear_field(1.0, 1.0)
    f2, a2, c2 = _linear_field(-0.7, 2.0)  # contracting in the second coordinate

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # diagonal: independent coords
        return torch.cat([f1(x[:, :1], t), f2(x[:, 1:], t)], dim=-1)

    y = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    exact = _gaussian_log_pdf(y[:, 0], c1, a1) + _gaussian_log_pdf(y[:, 1], c2, a2)
    assert torch.allclose(log_prob(field, y, 20, "rk4"), exact, atol=1e-6, rtol=0)


def test_kinetic_energy_of_exponential_flow():
    rate = (
        0.7  # f = rate x: x_t = y e^{rate (t - 1)}, int_0^1 f^2 dt = rate y^2 (1 - e^{-2 rate}) / 2
    )
    y = torch.linspace(-3.0, 3.0, 7, dtype=torch.float64)[:, None]
    x0, delta, kinetic = integrate_to_base(lambda x, t: rate * x, y, 20, "rk4")
    assert torch.allclose(x0, y * math.exp(-rate), atol=1e-7, rtol=0)  # rk4: 1e-8 at h = 1/20
    assert torch.allclose(delta, torch.full((7,), -rate, dtype=torch.float64), atol=1e-12)
    exact = rate * y[:, 0] ** 2 * (1 - math.exp(-2 * rate)) / 2
    assert torch.allclose(kinetic, exact, atol=1e-6, rtol=0)  # measured 6e-8


def test_divergence_matches_central_differences():
    net = _random_mlp(2)
    x = torch.randn(7, 2, dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    f, div = divergence(net, x, t, create_graph=False)
    eps = 1e-5
    fd = sum(
        (net(x + eps * e, t)[:, i] - net(x - eps * e, t)[:, i]) / (2 * eps)
        for i, e in enumerate(torch.eye(2, dtype=torch.float64))
    )
    assert f.shape == (7, 2) and div.shape == (7,)
    assert torch.allclose(f, net(x, t))
    # Central differences: truncation eps^2 f''' ~ 1e-10, round-off 1e-16 / eps ~ 1e-11.
    assert torch.allclose(div, fd, atol=1e-8, rtol=0)
    assert not x.requires_grad and not f.requires_grad and not div.requires_grad


@pytest.mark.parametrize(
    ("method", "order", "steps"),
    [
        ("euler", 1, [8, 16, 32, 64]),
        ("rk2", 2, [8, 16, 32, 64]),
        ("rk4", 4, [4, 8, 16, 32]),
    ],
)
def test_log_prob_converges_with_solver_order(method, order, steps):
    net = _random_mlp(1, n_freq=0)  # Fourier features in t need finer grids to reach the asymptote
    field = lambda x, t: 3.0 * net(x, t)  # noqa: E731  (strongly non-linear flow)
    y = torch.linspace(-3.0, 3.0, 13, dtype=torch.float64)[:, None]
    reference = log_prob(field, y, 512, "rk4")  # its own error ~1e-13
    errors = [(log_prob(field, y, n, method) - reference).abs().max().item() for n in steps]
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert slope == pytest.approx(order, abs=0.15)


def test_gradients_flow_only_with_create_graph():
    net = _random_mlp(2).float()
    y = torch.randn(32, 2)
    log_prob(net, y, 4, "rk4", create_graph=True).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    net.zero_grad(set_to_none=True)
    lp = log_prob(net, y, 4, "rk4", create_graph=False)
    assert not lp.requires_grad and lp.grad_fn is None
    assert all(p.grad is None for p in net.parameters())


def test_sample_then_integrate_back_and_change_of_variables():
    net = _random_mlp(1)
    field = lambda x, t: 3.0 * net(x, t)  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    path = sample(field, 200, 1, 32, "rk4", gen, dtype=torch.float64, return_path=True)
    x0, x1 = path[0], path[-1]
    assert path.shape == (33, 200, 1)
    back, delta, _ = integrate_to_base(field, x1, 32, "rk4")
    # Backward rk4 inverts forward rk4 up to its O(h^4) error (measured 1e-9 here).
    assert torch.allclose(back, x0, atol=1e-7, rtol=0)
    # 1D change of variables through the forward map: log p_1(x_1) = log N(x_0) - log |dx_1/dx_0|.
    x0_leaf = x0.clone().requires_grad_(True)
    x1_again = odeint(field, x0_leaf, time_grid(0.0, 1.0, 32, dtype=torch.float64), "rk4")
    (jac,) = torch.autograd.grad(x1_again.sum(), x0_leaf)
    assert torch.allclose(delta, -jac.abs().log()[:, 0], atol=1e-7, rtol=0)  # measured 1e-9


def test_samples_of_linear_flow_have_its_marginal():
    field, big_a, c = _linear_field(1.0, 1.0)
    gen = torch.Generator().manual_seed(0)
    path = sample(field, 20000, 1, 20, "rk4", gen, dtype=torch.float64, return_path=True)
    x0, x1 = path[0, :, 0], path[-1, :, 0]
    assert torch.allclose(x1, math.exp(big_a) * x0 + c, atol=1e-6, rtol=0)  # the exact map
    var = math.exp(2 * big_a)  # 2.80
    # 4 standard errors at n = 20000: mean 4 sqrt(var/n) = 0.047, variance 4 var sqrt(2/n) = 0.11.
    assert x1.mean().item() == pytest.approx(c, abs=0.047)
    assert x1.var().item() == pytest.approx(var, abs=0.11)


def test_standardized_field_is_an_affine_map_after_a_standard_cnf():
    """log p(y) = log p_u((y - shift) / scale) - sum log scale, and samples are shift + scale u
    (RK4 is affine-equivariant, so the two solves agree to rounding)."""
    net = _random_mlp(2)
    shift, scale = torch.tensor([3.0, -1.0]), torch.tensor([5.0, 0.5])
    flow = StandardizedField(net, shift, scale)
    y = torch.randn(64, 2) * scale + shift
    expected = log_prob(net, (y - shift) / scale, 40, "rk4") - torch.log(scale).sum()
    torch.testing.assert_close(log_prob(flow, y, 40, "rk4"), expected, atol=2e-5, rtol=0)
    u = sample(net, 32, 2, 20, "rk4", torch.Generator().manual_seed(1))
    x = sample(flow, 32, 2, 20, "rk4", torch.Generator().manual_seed(1))
    torch.testing.assert_close(x, shift + scale * u, atol=1e-5, rtol=0)


def test_standardized_zero_field_is_the_fitted_gaussian():
    """With a zero network the flow is its base N(mean, sd^2) of the data: exact density, and a
    kinetic energy of zero."""
    net = MLP(1, 1, [8])
    torch.nn.init.zeros_(net.net[-1].weight)
    torch.nn.init.zeros_(net.net[-1].bias)
    data = torch.randn(500, 1) * 3 + 2
    flow = StandardizedField.from_data(net, data)
    y = torch.linspace(-5, 9, 15)[:, None]
    truth = _gaussian_log_pdf(y[:, 0], data.mean().item(), math.log(data.std().item()))
    torch.testing.assert_close(log_prob(flow, y, 5, "euler"), truth, atol=1e-5, rtol=0)
    assert integrate_to_base(flow, y, 5, "euler")[2].abs().max() == 0


@pytest.mark.slow
def test_fit_gaussian_reaches_true_log_likelihood():
    splits = make_splits("gaussian", 500, 2000, 1, seed=0)
    truth = make_density("gaussian").log_prob(splits.val).mean().item()  # -2.103 on these points
    torch.manual_seed(0)
    net = MLP(1, 1, [16, 16], "tanh")
    before = log_prob(net, splits.val, 4, "rk4").mean().item()
    result = fit(
        net,
        splits.train,
        splits.val,
        n_iters=200,
        batch_size=500,
        lr=2e-2,
        n_steps=4,
        method="rk4",
        eval_every=50,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert len(result.train_loss) == 200 and result.val_iters == [50, 100, 150, 200]
    assert result.best_value == max(result.val_values)
    # The best parameters are the ones loaded back.
    assert log_prob(net, splits.val, 4, "rk4").mean().item() == pytest.approx(
        result.best_value, abs=1e-6
    )
    # A fine solver agrees with the 4-step one the flow was trained with (no solver exploit).
    after = log_prob(net, splits.val, 100, "rk4").mean().item()
    assert before < truth - 0.5
    # Measured gap 0.005 nats; a Gaussian MLE from 500 points loses ~1 / n on held-out data.
    assert after == pytest.approx(truth, abs=0.05)


def test_fit_rejects_unknown_schedule():
    data = torch.zeros(4, 1)
    with pytest.raises(ValueError, match="allowed"):
        fit(
            MLP(1, 1, [4]),
            data,
            data,
            n_iters=1,
            batch_size=4,
            lr=1e-3,
            n_steps=1,
            lr_schedule="step",
        )


class _AffineNet(torch.nn.Module):
    """net(u, t) = rate u + c: a field in standardized coordinates with a closed-form flow."""

    def __init__(self, rate: float, c: list[float]):
        super().__init__()
        self.rate = rate
        self.register_buffer("c", torch.tensor(c, dtype=torch.float64))

    def forward(self, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.rate * u + self.c


def test_kinetic_energy_is_measured_in_units_of_the_base_std():
    """k = int_0^1 |f / s|^2 dt with s the base's std (here scale = (3, 0.5), not 1).

    Constant net c: f = scale c, so k = |c|^2 exactly (Euler is exact), not |scale c|^2.
    Linear net rate u: f = rate (x - shift), x_t - shift = (y - shift) e^{rate (t - 1)}, so
    k = rate |(y - shift) / scale|^2 (1 - e^{-2 rate}) / 2."""
    shift = torch.tensor([1.0, -2.0], dtype=torch.float64)
    scale = torch.tensor([3.0, 0.5], dtype=torch.float64)
    y = shift + scale * torch.randn(9, 2, generator=torch.Generator().manual_seed(0)).double()
    c = [0.3, -0.7]
    constant = StandardizedField(_AffineNet(0.0, c), shift, scale).double()
    x0, _, kinetic = integrate_to_base(constant, y, 3, "euler")
    assert torch.allclose(x0, y - scale * torch.tensor(c, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(kinetic, torch.full((9,), 0.3**2 + 0.7**2, dtype=torch.float64))
    rate = 0.7
    linear = StandardizedField(_AffineNet(rate, [0.0, 0.0]), shift, scale).double()
    _, delta, kinetic = integrate_to_base(linear, y, 20, "rk4")
    assert torch.allclose(delta, torch.full((9,), -2 * rate, dtype=torch.float64), atol=1e-12)
    exact = rate * (((y - shift) / scale) ** 2).sum(-1) * (1 - math.exp(-2 * rate)) / 2
    assert torch.allclose(kinetic, exact, atol=1e-6, rtol=0)  # rk4 at h = 1/20: ~1e-8


def test_kinetic_penalty_lowers_the_kinetic_energy_of_a_fit():
    """fit minimises -log-likelihood + lambda k: from the same start and batches, lambda = 0.5
    ends with a lower kinetic energy than lambda = 0."""
    gen = torch.Generator().manual_seed(0)
    data = torch.cat([0.3 * torch.randn(128, 1, generator=gen) + s for s in (-1.5, 1.5)])
    torch.manual_seed(0)
    start = MLP(1, 1, [16], "tanh")
    energies = {}
    for weight in (0.0, 0.5):
        net = copy.deepcopy(start)
        fit(
            net,
            data,
            data[::2],
            n_iters=20,
            batch_size=64,
            lr=2e-2,
            n_steps=2,
            method="euler",
            lr_schedule="constant",
            kinetic_weight=weight,
            generator=torch.Generator().manual_seed(1),
            progress=False,
        )
        energies[weight] = integrate_to_base(net, data, 2, "euler")[2].mean().item()
    # Measured 0.18 against 0.61 (the start: 0.004); a penalty of the wrong sign ends at 6.1.
    assert energies[0.5] < 0.5 * energies[0.0]


def test_objective_sd_is_the_sample_sd_of_the_batch_objectives(monkeypatch):
    """The k-th batch's log-likelihood is made v_k at every point, so the objective is -v_k and
    its sd over 3 batches is the n - 1 sample sd of (0, 1, 5): sqrt 7 (ddof 0: sqrt(14 / 3))."""
    values = iter([0.0, 1.0, 5.0])
    monkeypatch.setattr(
        "lib.flows.cnf.log_prob", lambda field, y, *args: torch.full((len(y),), next(values))
    )
    data = torch.randn(10, 1, generator=torch.Generator().manual_seed(0))
    sd = objective_sd(None, data, 4, 3, 2, generator=torch.Generator().manual_seed(1))
    assert sd == pytest.approx(math.sqrt(7.0), abs=1e-12)


class _Scale(torch.nn.Module):
    """dx/dt = a x: the flow maps x0 to x0 e^a, so log p_1(y) = log N(y e^-a; 0, I) - a d."""

    def __init__(self, a: float):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))

    def forward(self, x, t):
        return self.a * x


def _scale_log_prob(y: torch.Tensor, a: float) -> torch.Tensor:
    z = y * math.exp(-a)
    return -0.5 * (z**2).sum(-1) - 0.5 * y.shape[-1] * math.log(2 * math.pi) - a * y.shape[-1]


def test_integrator_convergence_on_a_flow_with_an_exact_density():
    """The rk4 reference at 64 steps equals the exact mean log-density (to its 1e-8 solver
    error); each method's error
    shrinks at its order when T doubles (Euler 1, rk4 4)."""
    y = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    field = _Scale(0.7).double()
    out = integrator_convergence(field, y, ["euler", "rk4"], [4, 8], 64)
    assert out["reference"] == pytest.approx(_scale_log_prob(y, 0.7).mean().item(), abs=1e-6)
    assert out["n_steps"] == [4, 8]
    e = out["errors"]
    assert math.log2(e["euler"][0] / e["euler"][1]) == pytest.approx(1, abs=0.2)
    assert math.log2(e["rk4"][0] / e["rk4"][1]) == pytest.approx(4, abs=0.3)
    exact = _scale_log_prob(y, 0.7).mean().item()
    assert e["euler"][0] == pytest.approx(
        abs(log_prob(field, y, 4, "euler").mean().item() - exact), rel=1e-4
    )
    # the means behind the errors, reused by ode_fit as the fit's test log-likelihoods
    for m in ("euler", "rk4"):
        for T, value, error in zip([4, 8], out["log_likelihood"][m], e[m]):
            assert value == pytest.approx(log_prob(field, y, T, m).mean().item(), abs=1e-12)
            assert error == pytest.approx(abs(value - out["reference"]), abs=1e-15)


def _fit_scale(seed: int, **kw):
    """Fit dx/dt = a x from a = 0.3 to data N(0, 2^2): the maximum-likelihood a is log(sd)."""
    data = make_splits("gaussian", 400, 200, 1, seed=0)
    train, val = data.train + 1.0, data.val + 1.0  # "gaussian" is N(-1, 2^2): centre it
    field = _Scale(0.3)
    torch.manual_seed(seed)  # the global generator must not matter: fit draws from `generator`
    result = fit(
        field,
        train,
        val,
        n_iters=40,
        batch_size=100,
        lr=0.05,
        n_steps=4,
        eval_every=10,
        eval_n_steps=8,
        eval_method="heun",
        lr_schedule="constant",
        generator=torch.Generator().manual_seed(1),
        progress=False,
        **kw,
    )
    return field, train, val, result


def test_fit_climbs_the_likelihood_and_selects_its_best_validation():
    field, train, val, result = _fit_scale(0)
    assert len(result.train_loss) == 40 and result.val_iters == [10, 20, 30, 40]
    assert sum(result.train_loss[-10:]) < sum(result.train_loss[:10]) - 0.2
    # the kept weights beat the start on validation (exact: -2.51 nats at a = 0.3, -2.20 at log 2)
    start = _scale_log_prob(val.double(), 0.3).mean().item()
    assert result.best_value > start + 0.2, (start, result.best_value)
    target = math.log(train.std().item())  # about log 2
    assert field.a.item() == pytest.approx(target, abs=0.15)
    # the weights kept are the best validated ones, scored with the eval solver (heun, 8 steps)
    kept = log_prob(field, val, 8, "heun").mean().item()
    assert kept == pytest.approx(result.best_value, rel=1e-6)
    assert result.best_value == max(result.val_values)
    # train_loss is the batches' -mean log-likelihood: the first batch's, at a = 0.3, by hand
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))[:100]
    first = -_scale_log_prob(train[idx].double(), 0.3).mean().item()
    assert result.train_loss[0] == pytest.approx(first, rel=1e-5)


def test_fit_depends_on_its_generator_only():
    a = _fit_scale(0)
    b = _fit_scale(123)
    assert a[3].train_loss == b[3].train_loss and a[0].a.item() == b[0].a.item()


def test_objective_sd_draws_batches_from_its_generator():
    """At a = 0 the flow is the identity: each batch's objective is the standard normal's -mean
    log-density of that batch, drawn by randperm from the generator."""
    data = torch.randn(60, 2, generator=torch.Generator().manual_seed(2))
    field = _Scale(0.0)
    torch.manual_seed(5)
    sd = objective_sd(field, data, 10, 4, n_steps=2, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    losses = [
        -_scale_log_prob(data[torch.randperm(60, generator=g)[:10]], 0.0).mean().item()
        for _ in range(4)
    ]
    assert sd == pytest.approx(float(torch.tensor(losses, dtype=torch.float64).std()), rel=1e-5)


def test_standardized_field_takes_per_column_moments_as_float32_buffers():
    data = torch.tensor([[0.0, 10.0], [2.0, 14.0], [4.0, 12.0]], dtype=torch.float64)
    field = StandardizedField.from_data(MLP(2, 2, [4]), data)
    assert field.shift.dtype == field.scale.dtype == torch.float32
    torch.testing.assert_close(field.shift, torch.tensor([2.0, 12.0]))
    torch.testing.assert_close(field.scale, torch.tensor([2.0, 2.0]))  # sample sd of each column
    explicit = StandardizedField(MLP(2, 2, [4]), torch.tensor([1.0, 2.0]).double(), [3.0, 4.0])
    assert explicit.shift.dtype == explicit.scale.dtype == torch.float32


def test_objective_sd_uses_its_solver():
    """With a = 0.5 and 2 steps, Euler and rk4 give different log-likelihoods: the sd must be
    that of the method asked for."""
    data = torch.randn(60, 2, generator=torch.Generator().manual_seed(2))
    field = _Scale(0.5)
    sds = {}
    for method in ("euler", "rk4"):
        g = torch.Generator().manual_seed(3)
        sds[method] = objective_sd(field, data, 10, 4, 2, method, generator=g)
        g = torch.Generator().manual_seed(3)
        losses = [
            -log_prob(field, data[torch.randperm(60, generator=g)[:10]], 2, method).mean().item()
            for _ in range(4)
        ]
        assert sds[method] == pytest.approx(float(torch.tensor(losses).double().std()), rel=1e-6)
    assert sds["euler"] != pytest.approx(sds["rk4"], rel=1e-3)


def test_sample_pushes_the_base_noise_of_its_generator_through_the_flow():
    """dx/dt = a x from the base N(shift, scale^2) (a StandardizedField over u' = a u): x_1 =
    shift + scale * eps * e^a, eps the generator's draws; rk4 is the default solver."""
    field = StandardizedField(_Scale(0.5), torch.tensor([1.0, -2.0]), torch.tensor([2.0, 0.5]))
    torch.manual_seed(3)  # the global generator must not matter
    x = sample(field, 6, 2, 8, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    exact = field.shift + field.scale * eps * math.exp(0.5)
    assert x.shape == (6, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x, exact, atol=1e-4, rtol=1e-4)  # rk4 at 8 steps: ~1e-6
    euler = sample(field, 6, 2, 8, "euler", generator=torch.Generator().manual_seed(0))
    assert (euler - exact).abs().max() > 1e-2  # Euler's error at 8 steps is far larger
    path = sample(
        field,
        6,
        2,
        8,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
        return_path=True,
    )
    assert path.shape == (9, 6, 2) and path.dtype == torch.float64
    torch.testing.assert_close(path[0], field.shift.double() + field.scale.double() * eps.double())


def test_defaults_are_rk4_without_a_graph():
    y = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    field = _Scale(0.5)
    out = log_prob(field, y, 3)
    torch.testing.assert_close(out, log_prob(field, y, 3, "rk4"))
    assert not out.requires_grad  # no graph kept unless asked
    assert log_prob(field, y, 3, create_graph=True).requires_grad
    x0, delta, _ = integrate_to_base(field, y, 3)
    x0_rk4, delta_rk4, _ = integrate_to_base(field, y, 3, "rk4")
    torch.testing.assert_close((x0, delta), (x0_rk4, delta_rk4))
    assert not delta.requires_grad
    g = torch.Generator().manual_seed(1)
    torch.testing.assert_close(
        sample(field, 4, 2, 3, generator=g),
        sample(field, 4, 2, 3, "rk4", torch.Generator().manual_seed(1)),
    )


def test_fit_losses_are_the_likelihood_of_the_fields_own_base_without_the_penalty():
    """A StandardizedField (base N(shift, scale^2)) over u' = 0.3 u, one step with a kinetic
    penalty: train_loss holds the batch's -mean log-likelihood alone, by hand
    log p(y) = log N(u e^-0.3) - 0.3 d - sum log scale with u = (y - shift) / scale; the
    starting weights are validated first when validate_start is set."""
    shift, scale = torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5])
    field = StandardizedField(_Scale(0.3), shift, scale)
    train = shift + scale * torch.randn(50, 2, generator=torch.Generator().manual_seed(4))
    result = fit(
        field,
        train,
        train[:10],
        n_iters=1,
        batch_size=20,
        lr=0.01,
        n_steps=4,
        kinetic_weight=1.0,
        validate_start=True,
        generator=torch.Generator().manual_seed(5),
        progress=False,
    )
    idx = torch.randperm(50, generator=torch.Generator().manual_seed(5))[:20]
    u = ((train[idx] - shift) / scale).double()
    by_hand = -(_scale_log_prob(u, 0.3) - torch.log(scale).sum()).mean().item()
    assert result.train_loss == [pytest.approx(by_hand, rel=1e-5)]
    assert result.val_iters == [0, 1]
