"""Distance from a sample to a 1D Gaussian mixture itself, in closed form: no reference sample is
drawn, so the only noise is the sample's own."""

from __future__ import annotations

import torch


def energy_distance_to_mixture_1d(samples: torch.Tensor, means, stds, weights) -> float:
    """Unbiased squared energy distance from 1D samples (n,) or (n, 1) to the Gaussian mixture
    sum_k w_k N(mean_k, std_k^2) itself: 2 E|X - Y| - E|Y - Y'| - E|X - X'| with the two terms in
    Y exact (E|d + sZ| = d (2 Phi(d/s) - 1) + 2 s phi(d/s)) and E|X - X'| as the U-statistic.

    No reference sample is drawn, so its only noise is the sample's own: exact samples score 0
    on average, and a sampler is judged against their spread at the same n.
    """
    x = samples.reshape(-1).double()
    n = len(x)
    if n < 2:
        raise ValueError(f"energy distance needs at least 2 samples, got {n}")
    m, s, w = (
        torch.as_tensor(v, dtype=torch.float64, device=x.device) for v in (means, stds, weights)
    )

    def mean_abs(d, sd):  # E|d + sd Z|, elementwise
        z = torch.distributions.Normal(0.0, 1.0)
        return d * (2 * z.cdf(d / sd) - 1) + 2 * sd * z.log_prob(d / sd).exp()

    xy = (mean_abs(x[:, None] - m, s) * w).sum(1).mean()
    yy = (w[:, None] * w * mean_abs(m[:, None] - m, torch.sqrt(s[:, None] ** 2 + s**2))).sum()
    ranks = torch.arange(1, n + 1, dtype=torch.float64, device=x.device)
    sum_pairs = (x.sort().values * (2 * ranks - n - 1)).sum()  # sum over i < j of |x_i - x_j|
    xx = 2 * sum_pairs / (n * (n - 1))
    return (2 * xy - yy - xx).item()
