"""Sample distances on cases with known answers."""

import math

import pytest
import torch

from lib.data.densities import gaussian
from lib.metrics.distances import energy_distance, ks_statistic, mean_sd, mmd_rbf


def test_ks_of_exact_sample_is_small_and_of_shifted_sample_is_known():
    g = gaussian(0.0, 1.0)
    x = g.sample(20_000, torch.Generator().manual_seed(0))
    assert ks_statistic(x, g.cdf) < 1.63 / 20_000**0.5  # 99% Kolmogorov quantile
    # Shift by 1: sup |Phi(x) - Phi(x - 1)| = 2 Phi(1/2) - 1 = 0.3829.
    assert abs(ks_statistic(x + 1.0, g.cdf) - 0.3829) < 0.015


def test_ks_exact_on_tiny_sample():
    cdf = lambda x: x.clamp(0, 1).reshape(-1)  # noqa: E731  uniform(0, 1)
    assert abs(ks_statistic(torch.tensor([0.5]), cdf) - 0.5) < 1e-12
    assert abs(ks_statistic(torch.tensor([0.25, 0.75]), cdf) - 0.25) < 1e-12


def test_ks_when_the_gap_is_below_the_empirical_cdf():
    """One point at 0.9 against uniform(0, 1): F_n jumps from 0 to 1 at 0.9, so the largest gap is
    F(0.9) - 0 = 0.9, just left of the jump; with three points the steps are thirds."""
    cdf = lambda x: x.clamp(0, 1).reshape(-1)  # noqa: E731  uniform(0, 1)
    assert abs(ks_statistic(torch.tensor([0.9], dtype=torch.float64), cdf) - 0.9) < 1e-12
    # points 0.1, 0.2, 0.3: gaps i/3 - x_i = 0.2333, 0.4667, 0.7 and x_i - (i-1)/3 <= 0.1.
    assert abs(ks_statistic(torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64), cdf) - 0.7) < 1e-12
    # points 0.01, 0.02, 0.99: the largest gap 2/3 - 0.02 sits on a step 2/3 that float32 rounds
    x = torch.tensor([0.01, 0.02, 0.99], dtype=torch.float64)
    assert abs(ks_statistic(x, cdf) - (2 / 3 - 0.02)) < 1e-12


def test_energy_distance_of_two_point_laws():
    """x uniform on {0, 1}, y uniform on {0, 2} (V-statistics): E|X-Y| = 1, E|X-X'| = 1/2,
    E|Y-Y'| = 1, so 2 - 1/2 - 1 = 1/2."""
    x, y = torch.tensor([[0.0], [1.0]]).repeat(3, 1), torch.tensor([[0.0], [2.0]]).repeat(2, 1)
    assert abs(energy_distance(x, y) - 0.5) < 1e-12
    assert abs(energy_distance(y, x) - 0.5) < 1e-12


def test_energy_distance_of_point_masses():
    # Two point masses at distance d: 2d - 0 - 0.
    x, y = torch.zeros(5, 2), torch.full((7, 2), 3.0)
    assert abs(energy_distance(x, y) - 2 * 18**0.5) < 1e-9
    assert abs(energy_distance(x, x)) < 1e-12


def test_mmd_separates_laws():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 2, generator=gen), torch.randn(500, 2, generator=gen)
    assert mmd_rbf(a, b) < 0.01 < mmd_rbf(a, b + 2.0)


def test_mmd_of_point_masses_has_its_closed_form():
    """delta_a against delta_b: k(a, a) = k(b, b) = 1, so MMD^2 = 2 - 2 exp(-d^2 / (2 h^2)) for each
    bandwidth h, averaged over the bandwidths."""
    x, y = torch.zeros(4, 2), torch.tensor([[1.0, 1.0]]).expand(6, 2)  # d^2 = 2
    for bandwidths in [(1.0,), (0.5, 2.0)]:
        expected = sum(2 - 2 * math.exp(-2.0 / (2 * h**2)) for h in bandwidths) / len(bandwidths)
        assert abs(mmd_rbf(x, y, bandwidths) - expected) < 1e-12
    assert abs(mmd_rbf(x, x)) < 1e-12


def test_mmd_of_two_point_mixtures():
    """x: half at 0, half at a; y: all at 0 (1D, one bandwidth h, e = exp(-a^2 / (2 h^2))):
    E k(x, x') = (1 + e) / 2, E k(y, y') = 1, E k(x, y) = (1 + e) / 2, so MMD^2 = (1 - e) / 2."""
    a, h = 1.5, 0.8
    x = torch.tensor([[0.0], [a]]).repeat(5, 1)
    y = torch.zeros(3, 1)
    e = math.exp(-(a**2) / (2 * h**2))
    assert abs(mmd_rbf(x, y, (h,)) - (1 - e) / 2) < 1e-12


def test_mean_sd_uses_the_sample_sd():
    out = mean_sd([1.0, 2.0, 3.0, 4.0])
    assert out["mean"] == 2.5 and out["n"] == 4
    assert abs(out["sd"] - math.sqrt(5 / 3)) < 1e-12  # sum of squares 5 over n - 1 = 3
    assert mean_sd([1.0, 3.0])["sd"] == math.sqrt(2)
    assert mean_sd([7.0]) == {"mean": 7.0, "sd": 0.0, "n": 1}


@pytest.mark.parametrize(("n", "m"), [(1, 3), (7, 5), (200, 150)])
def test_mmd_equals_the_full_kernel_matrices(n, m):
    """Only pairs i < j within a set are evaluated: the mean over the full n x n, m x m and n x m
    kernel matrices (diagonals included) is the same number."""
    g = torch.Generator().manual_seed(n)
    x, y = torch.randn(n, 3, generator=g), 1.5 * torch.randn(m, 3, generator=g) + 0.2
    bandwidths = (0.2, 1.0, 4.0)
    x64, y64 = x.double(), y.double()

    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return torch.stack([torch.exp(-d2 / (2 * h * h)).mean() for h in bandwidths])

    expected = (k(x64, x64) + k(y64, y64) - 2 * k(x64, y64)).mean().item()
    assert abs(mmd_rbf(x, y, bandwidths) - expected) < 1e-13
