"""Latent Langevin sampling (DDLS) against known answers. A linear generator G(z) = A z + b and a
quadratic logit d(x) = -(x - m)^T P (x - m) / 2 + c make E(z) = |z|^2 / 2 - d(G(z)) quadratic, so
p ∝ exp(-E) is N(mu, Sigma) with Sigma^-1 = Q = I + A^T P A and mu = -Sigma A^T P (b - m); ULA with
h = eps / 2 keeps the mean and has the stationary covariance C = (Q (I - h Q / 2))^-1 -> Sigma."""

import math

import numpy as np
import pytest
import torch

from lib.sde.langevin import langevin_step
from lib.sde.latent_langevin import (
    LangevinChain,
    ddls,
    energy_and_grad,
    latent_energy,
    step_sizes,
)

F64 = torch.float64
A = torch.tensor([[1.0, 0.5], [-0.5, 1.0], [0.3, -0.8]], dtype=F64)  # (D, d) = (3, 2)
B = torch.tensor([[1.0, 0.0], [0.5, 1.0], [0.0, 0.5]], dtype=F64)
P = B @ B.T  # positive semi-definite, rank 2
b = torch.tensor([0.2, -0.1, 0.4], dtype=F64)
m = torch.tensor([1.0, 0.5, -0.5], dtype=F64)
Q = torch.eye(2, dtype=F64) + A.T @ P @ A  # eigenvalues about 1.39 and 2.66
SIGMA = torch.linalg.inv(Q)
MU = -SIGMA @ A.T @ P @ (b - m)


def generator(z):
    return z @ A.T + b


def logit(x, p=P):
    r = x - m
    return (-0.5 * ((r @ p) * r).sum(1) + 0.7)[:, None]  # (n, 1), as a discriminator returns


def energy(z):
    return latent_energy(generator, logit, z)


def ula_covariance(eps: float, q: torch.Tensor = Q) -> torch.Tensor:
    """ULA's stationary covariance on N(mu, q^-1): C = (I - hq) C (I - hq) + 2h I, h = eps / 2."""
    h = eps / 2
    return torch.linalg.inv(q @ (torch.eye(len(q), dtype=q.dtype) - h * q / 2))


def covariance_se(c: torch.Tensor, n: int) -> torch.Tensor:
    """S.e. of each entry of a Gaussian sample covariance: sqrt((c_ii c_jj + c_ij^2) / n)."""
    return ((c.diagonal()[:, None] * c.diagonal()[None, :] + c**2) / n).sqrt()


def moments(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return z.mean(0), torch.cov(z.T)


def prior(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=F64)


# --- the energy and its gradient ---------------------------------------------------------------


def test_latent_energy_is_the_gaussian_energy_up_to_a_constant():
    z = 3 * prior(50, 0)
    closed = 0.5 * (((z - MU) @ Q) * (z - MU)).sum(1)
    diff = latent_energy(generator, logit, z) - closed
    assert diff.shape == (50,)
    assert torch.allclose(diff, diff[0].expand(50), atol=1e-12)
    # at z = 0 only the logit is left: E(0) = -d(G(0)) = -d(b)
    assert latent_energy(generator, logit, torch.zeros(1, 2, dtype=F64)).item() == pytest.approx(
        -logit(b[None]).item()
    )


def test_gradient_matches_closed_form_and_finite_differences():
    z = prior(20, 1)
    with torch.no_grad():  # the sampler runs under no_grad: the gradient must still come out
        e, grad = energy_and_grad(energy, z)
    assert not e.requires_grad and not grad.requires_grad
    assert torch.allclose(e, energy(z), atol=0, rtol=0)
    closed = z + (z @ A.T + b - m) @ P @ A  # z + A^T P (A z + b - m), row by row
    assert torch.allclose(grad, closed, atol=1e-12)
    assert torch.allclose(grad, (z - MU) @ Q, atol=1e-12)
    delta = 1e-6
    fd = torch.stack(
        [(energy(z + delta * e_i) - energy(z - delta * e_i)) / (2 * delta) for e_i in torch.eye(2)],
        dim=1,
    )
    assert torch.allclose(grad, fd, atol=1e-7)


# --- the step-size schedule --------------------------------------------------------------------


def test_step_sizes_decay_every_few_steps():
    assert step_sizes(0.1, 3) == [0.1, 0.1, 0.1]
    assert step_sizes(0.8, 5, decay=0.5, decay_every=2) == [0.8, 0.8, 0.4, 0.4, 0.2]
    assert step_sizes(1.0, 4, decay=0.9, decay_every=1) == pytest.approx([1, 0.9, 0.81, 0.729])
    assert step_sizes(0.1, 0) == []
    assert step_sizes(0.1, np.int64(2), decay_every=np.int64(1)) == [0.1, 0.1]  # numpy integers


def test_ddls_is_langevin_step_with_half_the_step_size_on_the_schedule():
    """ULA with decay reproduced by hand: z <- langevin_step(z, -grad E, eps_k / 2, noise_k)."""
    z0 = prior(7, 2)
    chain = ddls(
        energy, z0, 5, 0.3, decay=0.5, decay_every=2, generator=torch.Generator().manual_seed(3)
    )
    gen, z, energies = torch.Generator().manual_seed(3), z0, [energy(z0)]
    for eps in [0.3, 0.3, 0.15, 0.15, 0.075]:
        z = langevin_step(z, -(z - MU) @ Q, eps / 2, torch.randn(7, 2, generator=gen, dtype=F64))
        energies.append(energy(z))
    assert isinstance(chain, LangevinChain)
    assert chain.n_steps == 5 and chain.acceptance is None and chain.records is None
    assert chain.seconds > 0
    assert torch.allclose(chain.z_final, z, atol=1e-12)
    assert chain.energies.shape == (6, 7)
    assert torch.allclose(chain.energies, torch.stack(energies).detach(), atol=1e-12)
    assert torch.equal(ddls(energy, z0, 0, 0.3).z_final, z0)


# --- ULA: the stationary law and its step-size bias --------------------------------------------


@pytest.mark.parametrize("eps", [0.4, 0.1, 0.02])
def test_ula_reaches_its_stationary_gaussian_which_tends_to_the_target(eps):
    """From the prior, 20k chains for 6 relaxation times 1 / (h lambda_min): the mean is mu (ULA
    is unbiased in the mean on a Gaussian), the covariance is C(eps) within 4.5 s.e. per entry.
    C(eps) - Sigma ~ eps / 4 I: at eps = 0.4 the chains visibly miss Sigma; at eps = 0.02 they are
    within the (small) bias plus 4.5 s.e. of Sigma."""
    n = 20_000
    n_steps = math.ceil(6 / (eps / 2 * torch.linalg.eigvalsh(Q)[0].item()))
    chain = ddls(energy, prior(n, 4), n_steps, eps, generator=torch.Generator().manual_seed(5))
    mean, cov = moments(chain.z_final)
    c = ula_covariance(eps)
    assert ((mean - MU).abs() <= 4.5 * (c.diagonal() / n).sqrt()).all()
    se = covariance_se(c, n)
    assert ((cov - c).abs() <= 4.5 * se).all(), (cov, c)
    bias = (c - SIGMA).abs()
    assert torch.allclose(c - SIGMA, eps / 4 * torch.eye(2, dtype=F64), atol=eps**2)
    if eps == 0.4:
        assert ((cov - SIGMA).abs() > 4.5 * se).diagonal().all()  # the bias is visible
    else:
        assert ((cov - SIGMA).abs() <= bias + 4.5 * se).all()


# --- MALA: exact invariance and its acceptance rate --------------------------------------------


def test_mala_one_step_accepts_by_the_metropolis_hastings_ratio():
    """One step by hand, with q(b | a) the full Gaussian density N(b; a - h grad E(a), 2h I)."""
    z0, eps = 1.5 * prior(400, 6), 1.2
    h = eps / 2
    chain = ddls(energy, z0, 1, eps, mala=True, generator=torch.Generator().manual_seed(7))
    gen = torch.Generator().manual_seed(7)
    noise = torch.randn(400, 2, generator=gen, dtype=F64)
    u = torch.rand(400, generator=gen, dtype=F64)
    grad = lambda z: (z - MU) @ Q  # noqa: E731
    prop = z0 - h * grad(z0) + math.sqrt(2 * h) * noise

    def log_q(to, at):
        return torch.distributions.MultivariateNormal(
            at - h * grad(at), 2 * h * torch.eye(2, dtype=F64)
        ).log_prob(to)

    ratio = energy(z0) - energy(prop) + log_q(z0, prop) - log_q(prop, z0)
    accept = u < ratio.exp().clamp(max=1)
    assert 0.1 < accept.double().mean() < 0.9  # both branches are exercised
    assert torch.allclose(chain.z_final, torch.where(accept[:, None], prop, z0), atol=1e-12)
    assert chain.acceptance == pytest.approx(accept.double().mean().item())
    assert torch.allclose(chain.energies[1], energy(chain.z_final), atol=1e-12)


def test_mala_keeps_the_target_exactly_where_ula_is_biased():
    """eps = 0.8 (h lambda_max ~ 1.06): ULA's covariance is off by tens of s.e., MALA's is Sigma
    within 4.5 s.e. per entry, and its mean is mu."""
    n, eps = 20_000, 0.8
    chain = ddls(
        energy, prior(n, 8), 150, eps, mala=True, generator=torch.Generator().manual_seed(9)
    )
    mean, cov = moments(chain.z_final)
    se = covariance_se(SIGMA, n)
    assert ((mean - MU).abs() <= 4.5 * (SIGMA.diagonal() / n).sqrt()).all()
    assert ((cov - SIGMA).abs() <= 4.5 * se).all(), (cov, SIGMA)
    assert ((ula_covariance(eps) - SIGMA).abs() > 20 * se).diagonal().all()
    assert 0 < chain.acceptance < 1


def test_mala_acceptance_falls_as_the_step_grows():
    z0 = MU + prior(2000, 10) @ torch.linalg.cholesky(SIGMA).T  # start at the target
    rates = [
        ddls(energy, z0, 20, eps, mala=True, generator=torch.Generator().manual_seed(11)).acceptance
        for eps in (0.01, 0.2, 0.8, 2.0)
    ]
    assert 0.99 < rates[0] < 1  # MALA's rejections vanish as eps -> 0
    assert all(a > b for a, b in zip(rates, rates[1:])), rates
    assert 0 < rates[-1] < 0.5


# --- from the GAN's prior: energy and recorded logits ------------------------------------------


def test_energy_falls_from_the_prior_on_a_concentrated_target_and_record_follows_the_chain():
    """P scaled by 25 (Q's eigenvalues ~ 35..66): from N(0, I) the mean energy falls step by step;
    record(z_k) = d(G(z_k)) is called once per k = 0..n_steps and E = |z|^2 / 2 - d(G(z))."""
    n, n_steps = 1000, 10
    calls = []

    def sharp_logit(x):
        return logit(x, 25 * P)

    def record(z):
        calls.append(len(z))
        assert not torch.is_grad_enabled()
        return sharp_logit(generator(z)).reshape(len(z))

    def sharp_energy(z):
        return latent_energy(generator, sharp_logit, z)

    z0 = prior(n, 12)
    chain = ddls(
        sharp_energy, z0, n_steps, 0.01, generator=torch.Generator().manual_seed(13), record=record
    )
    mean_energy = chain.energies.mean(1)
    assert (mean_energy.diff() < 0).all(), mean_energy
    assert mean_energy[-1] < 0.2 * mean_energy[0]
    assert chain.records.shape == (n_steps + 1, n)
    assert calls == [n] * (n_steps + 1)
    assert torch.allclose(chain.records[0], sharp_logit(generator(z0)).reshape(n))
    half_sq = 0.5 * chain.z_final.pow(2).sum(1)
    assert torch.allclose(chain.energies[-1], half_sq - chain.records[-1], atol=1e-10)
    assert (chain.records.mean(1).diff() > 0).all()  # d(G(z)) rises as E falls here


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps0": 0.0}, "eps0 = 0.0; allowed: a finite step size > 0"),
        ({"eps0": float("nan")}, "eps0 = nan"),
        ({"eps0": float("inf")}, "eps0 = inf"),
        ({"n_steps": -1}, "n_steps = -1; allowed: an integer >= 0"),
        ({"n_steps": 2.5}, "n_steps = 2.5"),
        ({"decay": 0.0}, "decay = 0.0; allowed: 0 < decay <= 1"),
        ({"decay": 1.5}, "decay = 1.5"),
        ({"decay_every": 0}, "decay_every = 0; allowed: an integer >= 1"),
    ],
)
def test_bad_arguments_raise_with_name_value_and_allowed(kwargs, message):
    args = {"eps0": 0.1, "n_steps": 3, "decay": 1.0, "decay_every": 1} | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        step_sizes(**args)
    eps0, n_steps = args.pop("eps0"), args.pop("n_steps")
    with pytest.raises(ValueError, match=message):
        ddls(energy, prior(3, 0), n_steps, eps0, **args)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"energy_fn returned shape \(3, 1\); allowed: \(3,\)"):
        ddls(lambda z: energy(z)[:, None], prior(3, 0), 2, 0.1)
    with pytest.raises(ValueError, match=r"record returned shape \(3, 1\); allowed: \(3,\)"):
        ddls(energy, prior(3, 0), 2, 0.1, record=lambda z: logit(generator(z)))


def test_generator_on_another_device_raises():
    z0 = torch.zeros(3, 2, device="meta")  # no computation happens before the check
    with pytest.raises(ValueError, match="generator is on cpu but z0 is on meta"):
        ddls(energy, z0, 2, 0.1, generator=torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_generator_with_cuda_latents_raises():
    with pytest.raises(ValueError, match="create the generator on z0's device"):
        ddls(energy, torch.zeros(3, 2, device="cuda"), 2, 0.1, generator=torch.Generator())
