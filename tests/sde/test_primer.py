"""The primer's experiments against theory: solver orders, Brownian and OU variances, Langevin."""

import math

import pytest
import torch

from lib.params.primer import BrownianParams, LangevinParams, OUParams
from lib.sde.primer import brownian, langevin, ornstein_uhlenbeck, solver_orders

CPU = torch.device("cpu")


def test_solver_orders_match_theory():
    runs = solver_orders(["euler", "rk2", "heun", "rk4"], [16, 32, 64, 128, 256])
    orders = {r.method: r.order for r in runs}
    assert orders == pytest.approx({"euler": 1, "rk2": 2, "heun": 2, "rk4": 4}, abs=0.35)
    for r in runs:
        assert r.n_steps == [16, 32, 64, 128, 256]
        assert len(r.errors) == 5
        assert all(a > b > 0 for a, b in zip(r.errors, r.errors[1:])), r.method
    # halving the step at the finest pair divides the error by 2^order
    final = {r.method: math.log2(r.errors[-2] / r.errors[-1]) for r in runs}
    assert final == pytest.approx({"euler": 1, "rk2": 2, "heun": 2, "rk4": 4}, abs=0.15)
    # euler's error on x' = cos(t) x over [0, 3] with 16 steps: a few percent of exp(sin 3)
    assert 0.01 < runs[0].errors[0] < 0.2


def test_solver_orders_error_is_against_exp_sin():
    # one Euler step of size 3 from x = 1 with f(1, 0) = cos(0) = 1 lands at 4
    (run,) = solver_orders(["euler"], [1, 2])
    assert run.errors[0] == pytest.approx(abs(4.0 - math.exp(math.sin(3.0))), rel=1e-12)


def _within_se(empirical, theory, n, k=4.5):
    """|var_hat - var| <= k s.e. of a Gaussian sample variance, sqrt(2 / (n - 1)) var."""
    se = theory * math.sqrt(2 / (n - 1))
    return bool(((empirical - theory).abs() <= k * se + 1e-12).all())


def test_brownian_variance_is_sigma_squared_t():
    p = BrownianParams(sigmas=[0.5, 2.0], t_end=1.5, n_steps=50, n_paths_plot=3, n_paths_stats=4000)
    runs = brownian(p, CPU, torch.Generator().manual_seed(0))
    assert [r.label for r in runs] == [0.5, 2.0]
    for r in runs:
        t = torch.linspace(0, 1.5, 51, dtype=torch.float64)
        torch.testing.assert_close(r.t, t)
        torch.testing.assert_close(r.var_theory, r.label**2 * t)
        assert r.var_empirical[0] == 0  # every path starts at 0
        assert _within_se(r.var_empirical, r.var_theory, 4000), r.label
        assert r.paths.shape == (51, 3)
        assert r.final.shape == (4000,)
        assert (r.mean_error <= 4.5 * r.label * torch.sqrt(t / 4000) + 1e-12).all()
        assert r.final.var().item() == pytest.approx(r.label**2 * 1.5, rel=0.1)


def test_ou_transient_variance_and_mean():
    d, theta_list, x0s = 0.5, [0.5, 2.0], [-2.0, 2.0]
    p = OUParams(
        thetas=theta_list,
        stationary_variance=d,
        x0s=x0s,
        t_end=3.0,
        n_steps=300,
        n_paths_plot=2,
        n_paths_stats=4000,
    )
    runs = ornstein_uhlenbeck(p, CPU, torch.Generator().manual_seed(1))
    assert [r.label for r in runs] == theta_list
    t = torch.linspace(0, 3.0, 301, dtype=torch.float64)
    n_per_start = 2000
    for r in runs:
        theta = r.label
        theory = d * (1 - torch.exp(-2 * theta * t))  # D (1 - e^{-2 theta t}), D = sigma^2/2theta
        torch.testing.assert_close(r.var_theory, theory)
        # the ensemble variance averages the two starts' variances: 2 (n - 1) degrees of freedom
        assert _within_se(r.var_empirical, theory, 2 * n_per_start - 1), theta
        assert (r.mean_error <= 4.5 * math.sqrt(d / n_per_start)).all(), theta
        assert r.paths.shape == (301, 2 * len(x0s))
        # the drawn paths start at the starts, n_paths_plot per start
        assert r.paths[0].tolist() == [-2.0, -2.0, 2.0, 2.0]
        assert r.final.shape == (2 * n_per_start,)
        assert abs(r.final.mean().item()) < 4.5 * math.sqrt(d / r.final.numel())
        assert r.final.var().item() == pytest.approx(theory[-1].item(), rel=0.1)
    # the slow process is still far from stationary halfway, the fast one is not
    half = 150
    assert runs[0].var_empirical[half] < 0.85 * d < runs[1].var_empirical[half]


def test_langevin_moves_particles_to_the_target():
    p = LangevinParams(
        means=[-2.0, 2.0],
        stds=[0.5, 0.5],
        weights=[0.5, 0.5],
        sigma=1.5,
        x0=0.0,
        t_end=4.0,
        n_steps=200,
        n_particles=1000,
        n_snapshots=5,
    )
    run = langevin(p, CPU, torch.Generator().manual_seed(2))
    torch.testing.assert_close(run.t, torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0]))
    assert run.snapshots.shape == (5, 1000)
    assert (run.snapshots[0] == 0).all()
    # a point mass at the median of a symmetric law is at KS distance 1/2 from it
    assert run.ks[0].item() == pytest.approx(0.5, abs=1e-9)
    assert run.ks[-1] < 0.07 and run.ks[-1] < run.ks[0] / 5
    assert run.energy[-1] < run.energy[0] / 100
    assert 0 < run.ks_floor < 0.07
    assert abs(run.energy_floor) < 0.02
    assert run.ks_floor_draws.shape == run.energy_floor_draws.shape == (50,)
    # both modes are populated about equally, and particles sit near +-2
    final = run.snapshots[-1]
    assert abs((final > 0).float().mean().item() - 0.5) < 0.08
    assert final.abs().mean().item() == pytest.approx(2.0, abs=0.25)


def test_langevin_floors_match_the_known_means_of_exact_samples():
    """For N(0, 1): n exact draws have mean KS distance sqrt(pi/2) ln 2 / sqrt(n) (Kolmogorov's
    law), and the energy distance to the target is unbiased, so exact samples average 0."""
    n, draws = 500, 400
    p = LangevinParams(
        means=[0.0],
        stds=[1.0],
        weights=[1.0],
        sigma=1.0,
        x0=0.0,
        t_end=0.1,
        n_steps=2,
        n_particles=n,
        n_snapshots=2,
        n_exact_draws=draws,
    )
    run = langevin(p, CPU, torch.Generator().manual_seed(3))
    assert run.ks_floor_draws.shape == run.energy_floor_draws.shape == (draws,)
    assert run.ks_floor == pytest.approx(run.ks_floor_draws.mean().item())
    ks_mean = math.sqrt(math.pi / 2) * math.log(2) / math.sqrt(n)
    ks_se = 0.2603 / math.sqrt(n * draws)  # the Kolmogorov law's sd is 0.2603 / sqrt(n)
    assert run.ks_floor == pytest.approx(ks_mean, abs=4 * ks_se + 0.001)  # + the finite-n bias
    energy_se = run.energy_floor_draws.std().item() / math.sqrt(draws)
    assert abs(run.energy_floor) < 4 * energy_se
    assert (run.energy_floor_draws < 0).any()  # unbiased, so some exact samples score below 0
    # all particles still at x0 = 0: a point mass's distance, 2 E|Z| - E|Z - Z'|
    assert run.energy[0].item() == pytest.approx(
        4 / math.sqrt(2 * math.pi) - 2 / math.sqrt(math.pi)
    )
