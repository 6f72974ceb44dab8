"""Bits/dim via the probability-flow ODE: linear flows with Gaussian answers, Hutchinson's bias and
variance, and the dequantization constant."""

import math

import pytest
import torch

from lib.flows.likelihood import (
    bits_from_log_prob,
    bits_per_dim,
    dequantize,
    exact_divergence,
    hutchinson_divergence,
    log_prob_flow,
    quantize,
)
from lib.paths.gaussian import GaussianMixtureMarginal, GaussianPath
from lib.paths.schedules import LinearSchedule

SHAPE = (1, 4, 4)  # image-shaped inputs (n, 1, 4, 4): D = 16
D = 16
LOG_2PI = math.log(2 * math.pi)


def _gaussian_flow(mean: torch.Tensor, std: float):
    """Exact marginal velocity of the linear path x_t = t z + (1 - t) eps for data z ~ N(m, s^2 I):
    its flow maps N(0, I) at t = 0 to N(m, s^2 I) at t = 1. Returns (velocity on images, log p)."""
    marginal = GaussianMixtureMarginal(
        GaussianPath(LinearSchedule()),
        mean.reshape(1, -1).double(),
        torch.tensor([std], dtype=torch.float64),
        torch.ones(1, dtype=torch.float64),
    )

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return marginal.velocity(x.reshape(len(x), -1), t).reshape(x.shape)

    def log_prob(z: torch.Tensor) -> torch.Tensor:
        r = (z.reshape(len(z), -1) - mean.reshape(1, -1).to(z)) / std
        return (-0.5 * r**2 - math.log(std) - 0.5 * LOG_2PI).sum(-1)

    return velocity, log_prob


def _linear_field(a: torch.Tensor):
    """f(x, t) = A x on flattened images, A non-symmetric: x_1 = e^A x_0, so from N(0, I)
    log p_1(z) = log N(e^{-A} z; 0, I) - tr A. Returns (field, log p_1)."""
    inv = torch.linalg.matrix_exp(-a)

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (x.reshape(len(x), -1) @ a.T.to(x)).reshape(x.shape)

    def log_prob(z: torch.Tensor) -> torch.Tensor:
        x0 = z.reshape(len(z), -1) @ inv.T.to(z)
        return -0.5 * (x0**2).sum(-1) - 0.5 * D * LOG_2PI - torch.trace(a).item()

    return field, log_prob


def _random_matrix(seed: int = 0, scale: float = 0.4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(D, D, generator=g, dtype=torch.float64) / math.sqrt(D)


def _images(n: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, *SHAPE, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------------ exact log-density


def test_log_prob_flow_matches_gaussian_marginal_flow():
    mean = torch.linspace(-0.5, 0.5, D, dtype=torch.float64)
    velocity, exact = _gaussian_flow(mean, 0.4)
    z = mean.reshape(1, *SHAPE) + _images(64, 0, 0.6)
    # rk4 error, max over points: 8e-7 at h = 1/40 (2e-5 at 1/20, 4e-4 at 1/10); a wrong sign or
    # a missing divergence term is off by D |log s| ~ 15.
    lp = log_prob_flow(velocity, z, 40, "rk4", exact_divergence)
    assert lp.shape == (64,)
    assert torch.allclose(lp, exact(z), atol=1e-4, rtol=0)


def test_log_prob_flow_non_symmetric_linear_field():
    field, exact = _linear_field(_random_matrix())
    z = _images(32, 1)
    # Measured 7e-9: a constant Jacobian, whose trace the exact divergence sums in D passes.
    assert torch.allclose(log_prob_flow(field, z, 20, "rk4"), exact(z), atol=1e-6, rtol=0)


def test_exact_divergence_is_trace_on_images():
    a = _random_matrix()
    field, _ = _linear_field(a)
    x = _images(5, 2)
    out, div = exact_divergence(field, x, torch.tensor(0.3))
    assert out.shape == x.shape and div.shape == (5,)
    assert torch.allclose(out, field(x, None))
    assert torch.allclose(div, torch.full((5,), torch.trace(a).item(), dtype=torch.float64))


# ------------------------------------------------------------------------ Hutchinson


def _probe_variance(a: torch.Tensor, noise: str) -> float:
    """Var of eps^T A eps for one probe: 2 ||S||_F^2 (Gaussian), minus 2 sum S_ii^2 (Rademacher)."""
    s = (a + a.T) / 2
    var = 2 * (s**2).sum().item()
    return var - 2 * (s.diagonal() ** 2).sum().item() if noise == "rademacher" else var


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased_with_known_variance(noise):
    a = _random_matrix()
    field, _ = _linear_field(a)
    x = _images(4000, 3)  # each point gets its own probes: 4000 independent estimates
    t = torch.tensor(0.5)
    _, div1 = hutchinson_divergence(1, torch.Generator().manual_seed(0), noise)(field, x, t)
    _, div16 = hutchinson_divergence(16, torch.Generator().manual_seed(1), noise)(field, x, t)
    trace, var = torch.trace(a).item(), _probe_variance(a, noise)
    # Unbiased: the mean is within 4 standard errors of the trace (measured: 0.3, 1.2 SE for
    # Rademacher, 0.6, 0.7 SE for Gaussian probes).
    assert abs(div1.mean().item() - trace) < 4 * math.sqrt(var / len(x))
    assert abs(div16.mean().item() - trace) < 4 * math.sqrt(var / 16 / len(x))
    # The variance matches the formula (measured within 5%), and averaging n_probes divides
    # it: the standard error shrinks as 1 / sqrt(n_probes) (sd ratio measured 3.92, 3.98).
    assert div1.var().item() == pytest.approx(var, rel=0.15)
    assert div16.var().item() == pytest.approx(var / 16, rel=0.15)
    assert (div1.std() / div16.std()).item() == pytest.approx(4.0, rel=0.15)


def test_hutchinson_probes_are_fixed_along_a_solve():
    a = _random_matrix()
    field, exact = _linear_field(a)
    z = _images(2000, 4)
    divergence = hutchinson_divergence(1, torch.Generator().manual_seed(5), "gaussian")
    lp = log_prob_flow(field, z, 20, "rk4", divergence)
    # With one probe eps for the whole path, the estimate of -int div is exactly -eps^T A eps;
    # calling the same function again returns eps^T A eps for the probes it kept.
    _, probe_div = divergence(field, z, torch.tensor(0.0))
    trace = torch.trace(a).item()
    assert torch.allclose(lp, exact(z) + trace - probe_div, atol=1e-6, rtol=0)
    # Across data points the error is unbiased, with sd sqrt(2 ||S||_F^2) (measured -2.1 SE).
    err = lp - exact(z)
    sem = math.sqrt(_probe_variance(a, "gaussian") / len(z))
    assert abs(err.mean().item()) < 4 * sem
    with pytest.raises(ValueError, match="new hutchinson_divergence"):
        divergence(field, z[:10], torch.tensor(0.0))


def test_hutchinson_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_probes"):
        hutchinson_divergence(0)
    with pytest.raises(ValueError, match="rademacher"):
        hutchinson_divergence(1, noise="uniform")


# ------------------------------------------------------------------------ dequantization


def test_dequantize_fills_the_bins_of_width_2_over_k():
    k = 17
    x = torch.randint(0, k, (4000, *SHAPE), generator=torch.Generator().manual_seed(0))
    z = dequantize(x, k, torch.Generator().manual_seed(1), torch.float64)
    assert z.min() >= -1 and z.max() < 1
    assert torch.equal(torch.floor((z + 1) * k / 2).long(), x)  # z lies in x's own bin
    centre = (2 * x.double() + 1) / k - 1
    assert (z - centre).mean().abs() < 4 * (1 / k) / math.sqrt(3 * z.numel())  # U(-1/K, 1/K)
    with pytest.raises(ValueError, match="0..16"):
        dequantize(x + 1, k)


@pytest.mark.parametrize("k", [2, 17, 256])
def test_uniform_density_on_the_cube_gives_log2_k_bits(k):
    # p(z) = 2^-D on [-1, 1]^D is the uniform distribution over the K^D images.
    log_p = torch.tensor([-D * math.log(2)], dtype=torch.float64)
    assert bits_from_log_prob(log_p, D, k).item() == pytest.approx(math.log2(k), abs=1e-12)


def test_bound_is_tight_for_a_density_constant_on_bins():
    # Factorised discrete model P(x) = prod_d q(x_d); the density q(x) / (2 / K) per coordinate
    # on x's bin reproduces it, so the bound equals -log2 P(x) / D for every image.
    k = 17
    g = torch.Generator().manual_seed(0)
    q = torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), 0)
    x = torch.randint(0, k, (100, D), generator=g)
    log_p = torch.log(q[x] * k / 2).sum(-1)
    exact_bits = -torch.log2(q[x]).sum(-1) / D
    assert torch.allclose(bits_from_log_prob(log_p, D, k), exact_bits, atol=1e-12, rtol=0)


def _expected_bits(x: torch.Tensor, k: int, mean: torch.Tensor, std: float) -> torch.Tensor:
    """E_u of the bound for z = a + h U per coordinate (a = 2x/K - 1, h = 2/K, U ~ U[0, 1)):
    E (z - m)^2 = (a - m)^2 + (a - m) h + h^2 / 3."""
    a, h = 2 * x.double().reshape(len(x), -1) / k - 1, 2 / k
    r = a - mean.reshape(1, -1)
    sq = r**2 + r * h + h**2 / 3
    log_p = (-0.5 * sq / std**2 - math.log(std) - 0.5 * LOG_2PI).sum(-1)
    return bits_from_log_prob(log_p, D, k)


def test_bits_per_dim_of_a_gaussian_flow():
    k, std = 17, 0.5
    mean = torch.linspace(-0.4, 0.4, D, dtype=torch.float64)
    velocity, exact = _gaussian_flow(mean, std)
    x = torch.randint(2, k - 2, (400, *SHAPE), generator=torch.Generator().manual_seed(0))
    out = bits_per_dim(
        velocity,
        x.to(torch.uint8).numpy(),
        k,
        n_steps=40,
        generator=torch.Generator().manual_seed(7),
        batch_size=len(x),  # one dequantization draw for all: the test can replay it
        dtype=torch.float64,
        return_per_image=True,
    )
    z = dequantize(x, k, torch.Generator().manual_seed(7), torch.float64)
    per_image = torch.tensor(out["per_image"], dtype=torch.float64)
    # Per image, the same u: the ODE's log-density, measured within 2e-8 bits (rk4, h = 1/40).
    assert torch.allclose(per_image, bits_from_log_prob(exact(z), D, k), atol=1e-5, rtol=0)
    assert out["sem"] == pytest.approx(per_image.std().item() / math.sqrt(len(x)))
    # Over u: the closed-form expectation (4.146 bits/dim), within 4 standard errors of the
    # dequantization noise (measured 0.2 SE).
    diff = per_image - _expected_bits(x, k, mean, std)
    assert abs(diff.mean().item()) < 4 * diff.std().item() / math.sqrt(len(x))
    assert out["n_images"] == 400 and out["dim"] == D


def test_bits_per_dim_hutchinson_noise():
    k, std = 17, 0.5
    mean = torch.zeros(D, dtype=torch.float64)
    velocity, _ = _gaussian_flow(mean, std)
    x = torch.randint(0, k, (300, *SHAPE), generator=torch.Generator().manual_seed(0))
    common = dict(n_steps=20, batch_size=len(x), dtype=torch.float64)
    exact = bits_per_dim(velocity, x, k, generator=torch.Generator().manual_seed(3), **common)
    # The Jacobian is a multiple of I: Rademacher probes have zero variance, eps^T c I eps = c D.
    rad = bits_per_dim(
        velocity,
        x,
        k,
        divergence="hutchinson",
        generator=torch.Generator().manual_seed(3),
        **common,
    )
    assert rad["bits_per_dim"] == pytest.approx(exact["bits_per_dim"], abs=1e-9)
    assert rad["estimator_sd"] < 1e-9
    # Gaussian probes: estimate of -int div = -log(s) |eps|^2, so a solve's sd is
    # |log s| sqrt(2 D) / (D ln 2) bits/dim; the mean stays within 4 of its standard errors.
    gauss = bits_per_dim(
        velocity,
        x,
        k,
        divergence="hutchinson",
        probe_noise="gaussian",
        n_repeats=2,
        generator=torch.Generator().manual_seed(3),
        **common,
    )
    sd = abs(math.log(std)) * math.sqrt(2 * D) / (D * math.log(2))
    # Measured: estimator_sd 4% above the formula, mean 1.7 estimator_sem from the exact one.
    assert gauss["estimator_sd"] == pytest.approx(sd, rel=0.15)
    assert abs(gauss["bits_per_dim"] - exact["bits_per_dim"]) < 4 * gauss["estimator_sem"]
    with pytest.raises(ValueError, match="n_repeats"):
        bits_per_dim(velocity, x, k, divergence="hutchinson", n_repeats=1, **common)
    with pytest.raises(ValueError, match="allowed"):
        bits_per_dim(velocity, x, k, divergence="trace", **common)


@pytest.mark.parametrize("k", [2, 17, 256])
def test_quantize_inverts_dequantize(k):
    x = torch.randint(0, k, (500, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    z = dequantize(x, k, torch.Generator().manual_seed(1))
    assert torch.equal(quantize(z, k).long(), x)
    ends = quantize(torch.tensor([-1.5, -1.0, 0.999999, 1.0, 3.0]), k)
    assert ends.tolist() == [0, 0, k - 1, k - 1, k - 1]  # outside [-1, 1): clipped to the ends
