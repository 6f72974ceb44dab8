"""Networks on (x, t): an MLP with optional Fourier time features, used as drift / field."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Activation = Literal["tanh", "silu", "relu", "softplus"]
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
}


class FourierTime(nn.Module):
    """t -> [t, sin(2 pi k t), cos(2 pi k t)] for k = 1..n_freq (fixed frequencies)."""

    def __init__(self, n_freq: int):
        super().__init__()
        self.register_buffer(
            "freqs", 2 * math.pi * torch.arange(1, n_freq + 1, dtype=torch.float32)
        )
        self.dim = 1 + 2 * n_freq

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # (n, 1) -> (n, dim)
        angles = t * self.freqs
        return torch.cat([t, torch.sin(angles), torch.cos(angles)], dim=-1)


class MLP(nn.Module):
    """f(x, t): concatenates x (n, d_in) with time features and maps to (n, d_out).

    `t` may be a 0-dim tensor (one time for the whole batch, as the solvers pass it) or (n,) /
    (n, 1). n_freq = 0 feeds t itself.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        hidden: list[int],
        activation: Activation = "tanh",
        n_freq: int = 0,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; allowed: {sorted(ACTIVATIONS)}")
        self.time = FourierTime(n_freq) if n_freq > 0 else None
        width = [d_in + (self.time.dim if self.time else 1), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(width[:-1], width[1:]):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(width[-1], d_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(x.shape[0]).reshape(-1, 1) if t.numel() == 1 else t.reshape(-1, 1)
        features = self.time(t) if self.time else t
        return self.net(torch.cat([x, features], dim=-1))
