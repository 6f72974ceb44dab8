"""Energy distance from a sample to a 1D Gaussian mixture, against closed forms."""

import math

import pytest
import torch

from lib.metrics.mixture_distance import energy_distance_to_mixture_1d


def _normal_mean_abs(d, s):  # E|d + s Z|
    return d * math.erf(d / (s * math.sqrt(2))) + 2 * s * math.exp(
        -(d**2) / (2 * s**2)
    ) / math.sqrt(2 * math.pi)


def test_energy_distance_to_a_mixture_of_a_point_mass_and_of_two_points():
    # all samples at a: 2 E|a - Y| - E|Y - Y'| with Y ~ N(0, 1), E|Y - Y'| = 2 / sqrt(pi)
    for a in (0.0, 1.5):
        got = energy_distance_to_mixture_1d(torch.full((7,), a), [0.0], [1.0], [1.0])
        assert got == _approx(2 * _normal_mean_abs(a, 1.0) - 2 / math.sqrt(math.pi))
    # samples {-1, 1} against 0.5 N(-1, 0.5^2) + 0.5 N(1, 0.5^2): E|X - X'| (U-statistic) = 2
    m, s = [-1.0, 1.0], [0.5, 0.5]
    xy = 0.5 * (_normal_mean_abs(0.0, 0.5) + _normal_mean_abs(2.0, 0.5))
    yy = 0.5 * _normal_mean_abs(0.0, math.sqrt(0.5)) + 0.5 * _normal_mean_abs(2.0, math.sqrt(0.5))
    got = energy_distance_to_mixture_1d(torch.tensor([-1.0, 1.0]), m, s, [0.5, 0.5])
    assert got == _approx(2 * xy - yy - 2.0)


def test_energy_distance_to_a_mixture_is_unbiased_and_matches_the_two_sample_estimate():
    gen = torch.Generator().manual_seed(0)
    values = torch.tensor(
        [
            energy_distance_to_mixture_1d(torch.randn(200, generator=gen), [0.0], [1.0], [1.0])
            for _ in range(400)
        ]
    )
    assert abs(values.mean().item()) < 4 * values.std().item() / 20  # 0 within 4 s.e.
    # N(a, 1) against N(0, 1): 2 E|a + sqrt(2) Z| - 2 E|sqrt(2) Z|
    a = 0.8
    exact = 2 * _normal_mean_abs(a, math.sqrt(2)) - 2 * _normal_mean_abs(0.0, math.sqrt(2))
    x = a + torch.randn(20000, generator=gen)
    assert energy_distance_to_mixture_1d(x, [0.0], [1.0], [1.0]) == _approx(exact, 0.03)
    assert energy_distance_to_mixture_1d(x[:, None], [0.0], [1.0], [1.0]) == _approx(exact, 0.03)


def _approx(value, rel=1e-9):
    return pytest.approx(value, rel=rel, abs=1e-12)
