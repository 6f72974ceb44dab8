"""Langevin dynamics: the score drift that keeps marginals, and one unadjusted Langevin step.

dX = 1/2 g^2 grad log p(X) dt + g dW leaves p invariant: in the Fokker–Planck equation the drift
1/2 g^2 grad log p cancels the diffusion 1/2 g^2 Laplacian p. Added to the velocity u of an ODE
with marginals p_t it gives an SDE with the same marginals for any g_t (the SDE samplers, the
ELBO's posterior drift, the primer's Langevin process).
"""

from __future__ import annotations

import torch


def score_drift(score: torch.Tensor, diffusion_sq: float | torch.Tensor) -> torch.Tensor:
    """1/2 g^2 grad log p: score (n, ...) times half the squared diffusion g^2 (a float, or a
    tensor broadcasting against score)."""
    return 0.5 * diffusion_sq * score


def langevin_step(
    x: torch.Tensor, score: torch.Tensor, step_size: float | torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """x + h grad log p(x) + sqrt(2 h) noise, with score = grad log p(x) and noise ~ N(0, I), all
    (n, ...): Euler–Maruyama with step h on dX = grad log p dt + sqrt(2) dW (g = sqrt 2), the
    unadjusted Langevin algorithm. With noise = 0 it is gradient ascent on log p."""
    return x + step_size * score + (2 * step_size) ** 0.5 * noise
