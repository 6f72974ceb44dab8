"""Song et al.'s predictors, the Langevin corrector and the probability-flow ODE, driven by the
exact score of Gaussian data N(0.5, 0.15^2) (`GaussianMixtureMarginal`), sample the data and
converge as the step count grows; NFE formula = counted score calls.

Monte Carlo tolerance: the sample mean and variance of N = 10000 draws are within TOL = 4
standard errors (s / sqrt(N) and s^2 sqrt(2 / N)) of the data's. The stochastic samplers start
from the exact marginal p_0 so that only the sampler is tested; the prior's mismatch with p_0
(VE: the data's mean; VP: alpha_0 = 0.0066 of it) is measured by the exact flow map below.
"""

import functools
import math

import pytest
import torch

from lib.paths.gaussian import GaussianMixtureMarginal, GaussianPath
from lib.sde import pc_sampling as pc
from lib.sde.score_sde import ScoreSDE, ve_sde, vp_sde
from lib.sde.solvers import EVALS_PER_STEP

MU, S, N, TOL = 0.5, 0.15, 10_000, 4.0
SDES = {"ve": ve_sde(0.01, 5.0), "vp": vp_sde()}
LADDERS = {"ve": (10, 100, 1000), "vp": (21, 100, 1000)}  # the DDPM chain needs n > beta_max


def _gmm(sde: ScoreSDE, std: float = S) -> GaussianMixtureMarginal:
    one = torch.ones(1)
    return GaussianMixtureMarginal(GaussianPath(sde.schedule), MU * one[:, None], std * one, one)


def _exact_p0(sde: ScoreSDE, gen: torch.Generator, std: float = S) -> torch.Tensor:
    """N draws of p_0 = N(alpha_0 MU, alpha_0^2 std^2 + sigma_0^2)."""
    m0, sigma0 = sde.marginal(torch.tensor(MU), 0.0)
    std0 = torch.sqrt((m0 / MU) ** 2 * std**2 + sigma0**2)
    return m0 + std0 * torch.randn(N, 1, generator=gen)


@functools.cache
def _sample(
    kind: str, predictor: str, corrector: str, n_steps: int, std: float = S
) -> torch.Tensor:
    """pc_sample on N(MU, std^2) data from the exact p_0, seed 0 for x0 and the sampler's noise
    (cached: tests share runs)."""
    sde = SDES[kind]
    gen = torch.Generator().manual_seed(0)
    x0 = _exact_p0(sde, gen, std)
    gmm = _gmm(sde, std)
    return pc.pc_sample(sde, gmm.score, x0, n_steps, predictor, corrector, generator=gen).x


def _error(x: torch.Tensor, std: float = S, var: float | None = None) -> float:
    """The larger of the mean's and the variance's error (against var, by default std^2), in
    standard errors."""
    n, var = len(x), std**2 if var is None else var
    mean_z = (x.mean().item() - MU) / (std / math.sqrt(n))
    var_z = (x.var().item() / var - 1) / math.sqrt(2 / n)
    return max(abs(mean_z), abs(var_z))


SAMPLERS = [
    ("euler_maruyama", "none"),
    ("reverse_diffusion", "none"),
    ("ancestral_sampling", "none"),
    ("probability_flow", "none"),
    ("reverse_diffusion", "langevin"),
]


@pytest.mark.parametrize("kind", ["ve", "vp"])
@pytest.mark.parametrize(("predictor", "corrector"), SAMPLERS)
def test_samplers_sample_the_data_and_converge(kind, predictor, corrector):
    """At the coarsest step count the error exceeds TOL (the test has teeth); it then decreases
    with every refinement until within TOL, and is within TOL at 1000 steps."""
    errors = [_error(_sample(kind, predictor, corrector, n)) for n in LADDERS[kind]]
    assert errors[0] > TOL, errors
    for coarse, fine in zip(errors, errors[1:]):
        assert fine < max(coarse, TOL), errors
    assert errors[-1] < TOL, errors


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_corrector_only_samples_langevins_stationary_law(kind):
    """C-only (1000 levels, one Langevin step each) on N(0.5, 0.3^2) data: the step
    e = 2 alpha r^2 V on N(m, V) (the score's norm is the noise's / sqrt V) is the unadjusted
    Langevin algorithm, whose stationary variance is V / (1 - alpha r^2) (alpha -> 1 at the last
    levels): 2.6% above the data's at r = 0.16. 100 levels are far from it. (On the sharper
    N(0.5, 0.15^2) VP's marginal variance shrinks too fast near the data end for 1000 single
    steps to follow it.)"""
    x = _sample(kind, "none", "langevin", 1000, 0.3)
    assert _error(x, 0.3, 0.3**2 / (1 - 0.16**2)) < TOL
    assert _error(_sample(kind, "none", "langevin", 100, 0.3), 0.3) > 100


@pytest.mark.parametrize("predictor", ["reverse_diffusion", "ancestral_sampling"])
def test_chain_predictors_approach_euler_maruyama_pathwise(predictor):
    """VE, the same x0 and noise draws: the discrete chain's samples approach Euler–Maruyama's
    point by point as n grows. (On VP the grid's last EM steps, s = 1/(n-1) -> eps -> 0, differ
    from the chain's last levels by O(sqrt(beta_min / n)) near n = 1 / eps: not monotone there.)"""
    dist = [
        (_sample("ve", predictor, "none", n) - _sample("ve", "euler_maruyama", "none", n))
        .abs()
        .mean()
        .item()
        for n in LADDERS["ve"]
    ]
    assert dist[0] > dist[1] > dist[2] and dist[2] < 0.05 * S, dist


def _flow_map(sde: ScoreSDE, x0: torch.Tensor, t: float) -> torch.Tensor:
    """The exact probability flow of N(MU, S^2) data from t = 0 to t: affine,
    x_t = alpha_t MU + std_t (x_0 - alpha_0 MU) / std_0 with std_t^2 = alpha_t^2 S^2 + sigma_t^2."""
    mu = torch.tensor(MU, dtype=x0.dtype)

    def mean_std(t):
        m, sigma = sde.marginal(mu, t)
        return m, torch.sqrt((m / MU) ** 2 * S**2 + sigma**2)

    (m0, std0), (m1, std1) = mean_std(0.0), mean_std(t)
    return m1 + std1 * (x0 - m0) / std0


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_probability_flow_ode_reaches_the_exact_flow_map(kind):
    """From prior draws, the fixed-step ODE converges to the exact map at its order (Euler's
    error quarters in 4x the steps, Heun's falls ~16x); rk4 with 100 steps is within 1e-4.
    The map shows the prior's cost: VE moves the mean by S MU / sigma_max (10 s.e. at N),
    VP by S alpha_0 MU / std_0 (0.2 s.e.)."""
    sde = SDES[kind]
    x0 = sde.prior_sample((100, 1), torch.Generator().manual_seed(3), dtype=torch.float64)
    exact = _flow_map(sde, x0, sde.t_end)
    score = _gmm(sde).score

    def err(method, n):
        return (pc.probability_flow_ode(sde, score, x0, n, method).x - exact).abs().max().item()

    assert 3 < err("euler", 50) / err("euler", 200) < 5
    assert err("heun", 50) / err("heun", 200) > 10
    assert err("rk4", 100) < 1e-4
    # the mean of the samples from the prior (mean 0) against those from p_0 (mean alpha_0 MU)
    m0, _ = sde.marginal(torch.tensor([MU], dtype=torch.float64), 0.0)
    zero = torch.zeros(1, dtype=torch.float64)
    shift = (_flow_map(sde, m0, sde.t_end) - _flow_map(sde, zero, sde.t_end)).abs().item()
    prior_cost = shift / (S / math.sqrt(N))  # in standard errors of the mean at N samples
    assert (prior_cost > 5) if kind == "ve" else (prior_cost < 0.5), prior_cost


@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_adaptive_probability_flow_reaches_rk4(kind):
    sde = SDES[kind]
    x0 = sde.prior_sample((100, 1), torch.Generator().manual_seed(4), dtype=torch.float64)
    score = _gmm(sde).score
    adaptive = pc.probability_flow_adaptive(sde, score, x0, rtol=1e-8, atol=1e-8)
    rk4 = pc.probability_flow_ode(sde, score, x0, 200, "rk4")
    assert adaptive.nfe > 0 and rk4.nfe == 4 * 200
    torch.testing.assert_close(adaptive.x, rk4.x, rtol=0, atol=1e-5)
    torch.testing.assert_close(adaptive.x, _flow_map(sde, x0, sde.t_end), rtol=0, atol=1e-5)


def test_sampling_from_the_vp_prior_is_tolerated():
    """VP's prior N(0, I) differs from p_0 (alpha_0 = 0.0066): PC from the prior still samples
    the data within TOL."""
    sde = SDES["vp"]
    gen = torch.Generator().manual_seed(5)
    x0 = sde.prior_sample((N, 1), gen)
    x = pc.pc_sample(sde, _gmm(sde).score, x0, 200, "reverse_diffusion", "langevin", generator=gen)
    assert _error(x.x) < TOL


@pytest.mark.parametrize("n_corrector_steps", [1, 2])
def test_nfe_formula_counts_the_score_calls(n_corrector_steps):
    sde, n = SDES["ve"], 6
    x0 = sde.prior_sample((10, 1), torch.Generator().manual_seed(0))
    for predictor in pc.PREDICTORS:
        for corrector in pc.CORRECTORS:
            if predictor == corrector == "none":
                continue
            calls = 0

            def score(x, t):
                nonlocal calls
                calls += 1
                return -x / 25.0

            out = pc.pc_sample(
                sde, score, x0, n, predictor, corrector, n_corrector_steps=n_corrector_steps
            )
            assert out.nfe == calls == pc.nfe(predictor, corrector, n, n_corrector_steps)
    for method, evals in EVALS_PER_STEP.items():
        assert pc.probability_flow_ode(sde, lambda x, t: -x, x0, n, method).nfe == evals * n


def test_denoise_drops_the_last_noise():
    """Reverse diffusion on VE: the last level adds noise g_0 = sigma_min, which denoise drops."""
    sde = SDES["ve"]
    score = _gmm(sde).score

    def run(denoise):
        gen = torch.Generator().manual_seed(6)
        x0 = sde.prior_sample((N, 1), gen)
        return pc.pc_sample(sde, score, x0, 10, "reverse_diffusion", "none", denoise=denoise,
                            generator=gen).x  # fmt: skip

    diff = run(False) - run(True)
    assert abs(diff.std().item() / 0.01 - 1) < TOL * math.sqrt(0.5 / N)


def test_bad_arguments_raise_with_the_allowed_values():
    sde = SDES["ve"]
    x0, score = torch.zeros(3, 1), lambda x, t: -x
    with pytest.raises(
        ValueError, match="unknown predictor 'heun'; allowed: .*'reverse_diffusion'"
    ):
        pc.pc_sample(sde, score, x0, 5, "heun", "langevin")
    with pytest.raises(ValueError, match="unknown corrector 'hmc'; allowed: .*'langevin'"):
        pc.pc_sample(sde, score, x0, 5, "euler_maruyama", "hmc")
    with pytest.raises(ValueError, match="unknown predictor"):
        pc.nfe("heun", "none", 5)
    with pytest.raises(ValueError, match="both are 'none'"):
        pc.pc_sample(sde, score, x0, 5, "none", "none")
    with pytest.raises(ValueError, match="snr"):
        pc.pc_sample(sde, score, x0, 5, snr=0.0)
    with pytest.raises(ValueError, match="n_corrector_steps"):
        pc.pc_sample(sde, score, x0, 5, n_corrector_steps=0)
    with pytest.raises(ValueError, match="unknown ODE method 'rk45'; allowed"):
        pc.probability_flow_ode(sde, score, x0, 5, "rk45")
    with pytest.raises(ValueError, match="generator is on cpu but x0 is on meta"):
        pc.pc_sample(sde, score, torch.zeros(3, 1, device="meta"), 5,
                     generator=torch.Generator())  # fmt: skip
