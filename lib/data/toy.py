"""Toy datasets with exact densities (1D and 2D) and their seeded train/validation/test splits."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lib.data import densities as D

DATASETS_1D: dict[str, Callable[[], D.Density]] = {
    "gaussian": lambda: D.gaussian(-1.0, 2.0),
    "laplace_mixture": lambda: D.laplace_mixture([-8.0, -4.0, 0.0, 4.0, 8.0], 1.0),
}

DATASETS_2D: dict[str, Callable[[], D.Density | D.TwoMoons]] = {
    "gmm5_circle": lambda: D.gaussians_on_circle(5, radius=10.0, std=1.0),
    "gmm8_circle": lambda: D.gaussians_on_circle(8, radius=4.0, std=0.5),
    "rings": lambda: D.rings([1.0, 2.5, 4.0], width=0.25),
    "checkerboard": lambda: D.checkerboard(half_width=4.0, n_cells=4),
    "cats": lambda: D.uniform_box([-6.0, -2.0], [-2.0, 2.0]),
    "dogs": lambda: D.uniform_box([2.0, -1.0], [4.0, 5.0]),
    "moons": lambda: D.TwoMoons(noise=0.08, scale=3.0),
}

DATASETS_WITH_DENSITY = tuple(n for n, make in DATASETS_2D.items() if hasattr(make(), "log_prob"))


def make_density(name: str):
    """The density of a named 1D or 2D dataset."""
    registry = {**DATASETS_1D, **DATASETS_2D}
    if name not in registry:
        raise ValueError(f"unknown dataset {name!r}; allowed: {sorted(registry)}")
    return registry[name]()


@dataclass(frozen=True)
class ToySplits:
    train: torch.Tensor  # (n_train, dim)
    val: torch.Tensor
    test: torch.Tensor


def make_splits(name: str, n_train: int, n_val: int, n_test: int, seed: int) -> ToySplits:
    """Independent draws for each split from one generator seeded by (seed, dataset name)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + _stable_hash(name))
    density = make_density(name)
    x = density.sample(n_train + n_val + n_test, gen)
    return ToySplits(x[:n_train], x[n_train : n_train + n_val], x[n_train + n_val :])


@dataclass(frozen=True)
class ExpectedLogLik:
    mean: float  # 1/n sum log p(y_i) over the test set: the reference's "true expected LL"
    stderr: float  # its Monte Carlo standard error, sd(log p) / sqrt(n)


def expected_log_likelihood(name: str, test: torch.Tensor) -> ExpectedLogLik | None:
    """Mean exact log-density of the test points, or None for a dataset without a density."""
    density = make_density(name)
    if not hasattr(density, "log_prob"):
        return None
    lp = density.log_prob(test).double()
    return ExpectedLogLik(lp.mean().item(), lp.std().item() / math.sqrt(len(lp)))


def negative_entropy_1d(name: str, lim: float = 40.0, n: int = 400_001) -> float:
    """E_p[log p] by the trapezoid rule: the population value the test mean estimates."""
    x = torch.linspace(-lim, lim, n, dtype=torch.float64)
    lp = make_density(name).log_prob(x[:, None].float()).double()
    return torch.trapezoid(lp.exp() * lp, x).item()


def _stable_hash(name: str) -> int:
    """Process-independent small hash (Python's hash() is salted per process)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) % 1_000_003


def load_splits(path, device: torch.device | str = "cpu") -> ToySplits:
    """The train/val/test arrays the data stage wrote to `path` (.npz), as float32 tensors."""
    with np.load(path, allow_pickle=False) as f:
        return ToySplits(
            *(
                torch.as_tensor(f[k], dtype=torch.float32, device=device)
                for k in ("train", "val", "test")
            )
        )
