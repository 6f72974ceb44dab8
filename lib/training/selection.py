"""Best-validation selection: the weights that scored best so far, kept to be loaded at the end."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def clone_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of module's state dict (parameters and buffers)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@dataclass
class Selection:
    """The best validation value so far, the iteration after which it was measured (0: the
    initial weights) and the evaluated weights then. Larger is better if maximize, else smaller;
    NaN never wins."""

    maximize: bool
    value: float
    iter: int
    state: dict[str, torch.Tensor]

    @classmethod
    def start(cls, module: nn.Module, maximize: bool) -> Selection:
        """Nothing measured yet: module's weights, which any number other than -inf (+inf if
        minimising) beats."""
        return cls(maximize, -math.inf if maximize else math.inf, 0, clone_state(module))

    def offer(self, value: float, it: int, module: nn.Module) -> bool:
        """Keep module's weights, scored value after iteration it, if value beats the best."""
        better = value > self.value if self.maximize else value < self.value  # False for NaN
        if better:
            self.value, self.iter, self.state = value, it, clone_state(module)
        return better

    def state_dict(self) -> dict:
        return {"value": self.value, "iter": self.iter, "state": self.state}

    @classmethod
    def from_state_dict(cls, saved: dict, maximize: bool) -> Selection:
        return cls(maximize, saved["value"], saved["iter"], saved["state"])
