"""Exponential moving average (EMA) of the weights, with a decay warmed up from the start."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(model: nn.Module) -> nn.Module:
    """The EMA's module: a frozen copy of model, so it starts at the initial weights."""
    return copy.deepcopy(model).requires_grad_(False)


def ema_decay_at(decay: float, it: int) -> float:
    """The EMA decay at iteration it (1-based): min(decay, (1 + it) / (10 + it)). Early on the
    average forgets quickly, so the initial weights' share decays to 0 instead of to decay^n."""
    return min(decay, (1 + it) / (10 + it))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """w_ema <- decay w_ema + (1 - decay) w for every parameter; buffers are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
