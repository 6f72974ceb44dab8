"""Sample distances on cases with known answers."""

import torch

from lib.data.densities import gaussian
from lib.metrics.distances import energy_distance, ks_statistic, mmd_rbf


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


def test_energy_distance_of_point_masses():
    # Two point masses at distance d: 2d - 0 - 0.
    x, y = torch.zeros(5, 2), torch.full((7, 2), 3.0)
    assert abs(energy_distance(x, y) - 2 * 18**0.5) < 1e-9
    assert abs(energy_distance(x, x)) < 1e-12


def test_mmd_separates_laws():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 2, generator=gen), torch.randn(500, 2, generator=gen)
    assert mmd_rbf(a, b) < 0.01 < mmd_rbf(a, b + 2.0)
