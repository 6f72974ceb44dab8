"""Stochastic processes dX = u(X, t) dt + sigma(X, t) dW, each with `drift` and `diffusion`.

Brownian motion and Ornstein–Uhlenbeck also give their exact Gaussian marginals, which the
primer and the tests compare with Euler–Maruyama simulations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lib.data.densities import Density
from lib.sde.langevin import score_drift


@dataclass(frozen=True)
class BrownianMotion:
    """dX = sigma dW: X_t | X_0 ~ N(X_0, sigma^2 t)."""

    sigma: float

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def diffusion(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.sigma)

    def mean(self, x0: float, t: float) -> float:
        return x0

    def variance(self, t: float) -> float:
        return self.sigma**2 * t


@dataclass(frozen=True)
class OrnsteinUhlenbeck:
    """dX = -theta X dt + sigma dW.

    X_t | X_0 ~ N(X_0 e^{-theta t}, D (1 - e^{-2 theta t})) with D = sigma^2 / (2 theta), so every
    start converges to the stationary N(0, D); it is Langevin dynamics for that Gaussian.
    """

    theta: float
    sigma: float

    @property
    def stationary_variance(self) -> float:
        return self.sigma**2 / (2 * self.theta)

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -self.theta * x

    def diffusion(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.sigma)

    def mean(self, x0: float, t: float) -> float:
        return x0 * math.exp(-self.theta * t)

    def variance(self, t: float) -> float:
        return self.stationary_variance * (1 - math.exp(-2 * self.theta * t))


@dataclass(frozen=True)
class Langevin:
    """dX = 1/2 sigma^2 grad log p(X) dt + sigma dW, whose stationary law is p."""

    density: Density
    sigma: float

    def drift(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return score_drift(self.density.score(x), self.sigma**2)

    def diffusion(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.sigma)
