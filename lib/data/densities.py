"""Analytic densities with `sample`, `log_prob` and `score` (= grad_x log p), batch first.

Shapes: x is (n, dim); `log_prob` returns (n,), `score` returns (n, dim). Densities hold their
parameters as CPU tensors; `.to(device)` moves them. Two-moons has no closed-form density and
offers `sample` only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

LOG_2PI = math.log(2 * math.pi)


class Density:
    """Base: dimension, device moves. Subclasses define sample, log_prob and score."""

    dim: int

    def to(self, device: torch.device | str) -> Density:
        changes = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return dataclasses.replace(self, **changes)


def _tensor(values, dim: int | None = None) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32)
    return t.expand(dim).clone() if dim is not None and t.ndim == 0 else t


@dataclass(frozen=True, eq=False)
class Gaussian(Density):
    """Diagonal Gaussian N(mean, diag(std^2))."""

    mean: torch.Tensor  # (dim,)
    std: torch.Tensor  # (dim,)

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(n, self.dim, generator=generator, device=self.mean.device)
        return self.mean + self.std * eps

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        return (-0.5 * z**2 - torch.log(self.std) - 0.5 * LOG_2PI).sum(-1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return -(x - self.mean) / self.std**2

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """1D only: P(X <= x), x (n, 1) -> (n,)."""
        return torch.special.ndtr((x - self.mean) / self.std).squeeze(-1)


@dataclass(frozen=True, eq=False)
class Laplace(Density):
    """Product of independent Laplace(loc, scale) coordinates."""

    loc: torch.Tensor  # (dim,)
    scale: torch.Tensor  # (dim,)

    @property
    def dim(self) -> int:
        return self.loc.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(n, self.dim, generator=generator, device=self.loc.device) - 0.5
        # Inverse CDF; clamp keeps log finite when u hits exactly -0.5.
        return self.loc - self.scale * torch.sign(u) * torch.log1p(-2 * u.abs()).clamp_min(-80)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return (-(x - self.loc).abs() / self.scale - torch.log(2 * self.scale)).sum(-1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.sign(x - self.loc) / self.scale

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """1D only: P(X <= x), x (n, 1) -> (n,)."""
        z = (x - self.loc) / self.scale
        return torch.where(z < 0, 0.5 * torch.exp(z), 1 - 0.5 * torch.exp(-z)).squeeze(-1)


@dataclass(frozen=True, eq=False)
class Ring(Density):
    """2D ring: angle uniform, radius rho ~ N(radius, width^2) truncated to rho > 0.

    p(x) = N(rho; radius, width) / (Phi(radius / width) 2 pi rho), exact and normalised.
    """

    radius: torch.Tensor  # ()
    width: torch.Tensor  # ()
    dim = 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = self.radius.device
        lo = torch.special.ndtr(-self.radius / self.width)
        u = lo + (1 - lo) * torch.rand(n, generator=generator, device=device)
        rho = self.radius + self.width * torch.special.ndtri(u.clamp(max=1 - 1e-7))
        angle = 2 * math.pi * torch.rand(n, generator=generator, device=device)
        return torch.stack([rho * torch.cos(angle), rho * torch.sin(angle)], dim=-1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        rho = x.norm(dim=-1)
        z = (rho - self.radius) / self.width
        log_norm = torch.log(torch.special.ndtr(self.radius / self.width))
        return (
            -0.5 * z**2
            - torch.log(self.width)
            - 0.5 * LOG_2PI
            - log_norm
            - torch.log(2 * math.pi * rho)
        )

    def score(self, x: torch.Tensor) -> torch.Tensor:
        rho = x.norm(dim=-1, keepdim=True)
        d_log_rho = -(rho - self.radius) / self.width**2 - 1 / rho
        return d_log_rho * x / rho


@dataclass(frozen=True, eq=False)
class UniformBox(Density):
    """Uniform on the box [low, high] (per coordinate); score is zero inside."""

    low: torch.Tensor  # (dim,)
    high: torch.Tensor  # (dim,)

    @property
    def dim(self) -> int:
        return self.low.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(n, self.dim, generator=generator, device=self.low.device)
        return self.low + (self.high - self.low) * u

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        inside = ((x >= self.low) & (x <= self.high)).all(-1)
        log_p = -torch.log(self.high - self.low).sum()
        return torch.where(inside, log_p, torch.full_like(inside, -math.inf, dtype=x.dtype))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


@dataclass(frozen=True, eq=False)
class Checkerboard(Density):
    """Uniform on the dark squares of an n_cells x n_cells board over [-half_width, half_width]^2.

    Dark squares are those whose cell indices (i, j) have an even sum.
    """

    half_width: torch.Tensor  # ()
    n_cells: int = 4
    dim = 2

    @property
    def cell(self) -> torch.Tensor:
        return 2 * self.half_width / self.n_cells

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = self.half_width.device
        i = torch.randint(self.n_cells, (n,), generator=generator, device=device)
        j_half = torch.randint(self.n_cells // 2, (n,), generator=generator, device=device)
        j = 2 * j_half + (i % 2)  # same parity as i: i + j even
        cells = torch.stack([i, j], dim=-1).to(torch.float32)
        u = torch.rand(n, 2, generator=generator, device=device)
        return -self.half_width + self.cell * (cells + u)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        idx = torch.floor((x + self.half_width) / self.cell)
        inside = ((idx >= 0) & (idx < self.n_cells)).all(-1) & (idx.sum(-1) % 2 == 0)
        dark_area = (self.n_cells**2 // 2) * self.cell**2
        log_p = -torch.log(dark_area).to(x.dtype)
        return torch.where(inside, log_p, torch.full_like(log_p.expand(len(x)), -math.inf))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


@dataclass(frozen=True, eq=False)
class Mixture(Density):
    """sum_k w_k p_k(x); the score is the responsibility-weighted sum of component scores."""

    components: tuple[Density, ...]
    weights: torch.Tensor  # (K,), sums to 1

    @property
    def dim(self) -> int:
        return self.components[0].dim

    def to(self, device: torch.device | str) -> Mixture:
        components = tuple(c.to(device) for c in self.components)
        return Mixture(components, self.weights.to(device))

    def _log_joint(self, x: torch.Tensor) -> torch.Tensor:  # (n, K)
        logs = torch.stack([c.log_prob(x) for c in self.components], dim=-1)
        return logs + torch.log(self.weights)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        draws = torch.stack([c.sample(n, generator) for c in self.components])  # (K, n, dim)
        return draws[k, torch.arange(n, device=k.device)]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._log_joint(x), dim=-1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        resp = torch.softmax(self._log_joint(x), dim=-1)  # (n, K)
        scores = torch.stack([c.score(x) for c in self.components], dim=-1)  # (n, dim, K)
        return (scores * resp[:, None, :]).sum(-1)

    def cdf(self, x: torch.Tensor) -> torch.Tensor:
        """1D only: sum_k w_k F_k(x)."""
        return sum(w * c.cdf(x) for w, c in zip(self.weights, self.components))


@dataclass(frozen=True, eq=False)
class TwoMoons:
    """Two interleaved half circles with Gaussian noise; no closed-form density (sample only)."""

    noise: float = 0.1
    scale: float = 1.0
    dim = 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n_upper = n // 2
        angle = math.pi * torch.rand(n, generator=generator)
        upper = torch.arange(n) < n_upper
        x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
        y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
        points = torch.stack([x - 0.5, y - 0.25], dim=-1)
        points = points + self.noise * torch.randn(n, 2, generator=generator)
        return self.scale * points[torch.randperm(n, generator=generator)]


def gaussian(mean: float | list[float], std: float | list[float], dim: int = 1) -> Gaussian:
    return Gaussian(_tensor(mean, dim), _tensor(std, dim))


def gaussian_mixture(means, stds, weights=None) -> Mixture:
    """Mixture of isotropic Gaussians; means (K, dim), stds (K,)."""
    means = _tensor(means)
    comps = tuple(Gaussian(m, _tensor(s, means.shape[1])) for m, s in zip(means, _tensor(stds)))
    return Mixture(comps, _weights(weights, len(comps)))


def laplace_mixture(locs: list[float], scale: float = 1.0, weights=None) -> Mixture:
    """1D mixture of Laplace(loc_k, scale)."""
    comps = tuple(Laplace(_tensor([loc]), _tensor([scale])) for loc in locs)
    return Mixture(comps, _weights(weights, len(comps)))


def gaussians_on_circle(n_modes: int, radius: float, std: float) -> Mixture:
    """Equal-weight isotropic Gaussians at the vertices of a regular n_modes-gon."""
    angles = 2 * math.pi * torch.arange(n_modes) / n_modes
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
    return gaussian_mixture(means, [std] * n_modes)


def rings(radii: list[float], width: float) -> Mixture:
    """Equal-weight concentric rings."""
    comps = tuple(Ring(_tensor(r), _tensor(width)) for r in radii)
    return Mixture(comps, _weights(None, len(comps)))


def uniform_box(low: list[float], high: list[float]) -> UniformBox:
    return UniformBox(_tensor(low), _tensor(high))


def checkerboard(half_width: float = 4.0, n_cells: int = 4) -> Checkerboard:
    if n_cells % 2:
        raise ValueError(f"checkerboard n_cells must be even, got {n_cells}")
    return Checkerboard(_tensor(half_width), n_cells)


def _weights(weights, k: int) -> torch.Tensor:
    w = torch.full((k,), 1.0 / k) if weights is None else _tensor(weights)
    return w / w.sum()
