"""E `MLP`s of one shape as one module: an ensemble of independent fits trained at once."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lib.nets.mlp import MLP


class StackedMLP(nn.Module):
    """E independent `MLP`s of one shape: rows k n .. (k + 1) n - 1 of an input of E n rows go
    through member k, each layer one batched matrix product (`torch.baddbmm`).

    Members share nothing but the shape, so the gradient of a sum of per-member losses is each
    member's own gradient, and an element-wise optimizer (Adam) steps each member as if alone.
    Plain autograd, not `torch.func.vmap`: a divergence by `autograd.grad(create_graph=True)`
    works on it unchanged. Outputs equal the members' own to float rounding.
    """

    def __init__(self, members: Sequence[MLP]):
        super().__init__()
        first = members[0]
        shapes = [[(k, v.shape) for k, v in m.state_dict().items()] for m in members]
        kinds = [[type(layer) for layer in m.net] for m in members]
        if any(s != shapes[0] for s in shapes) or any(k != kinds[0] for k in kinds):
            raise ValueError("StackedMLP needs members of one architecture (shapes, activation)")
        self.n_members = len(members)
        self.time = first.time  # fixed features (a buffer), the same for every member
        self.activation = first.net[1]
        linears = [[layer for layer in m.net if isinstance(layer, nn.Linear)] for m in members]
        # layer i: weights (E, in, out) and biases (E, 1, out), so that h w + b is x W^T + b
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].weight.detach().mT for ls in linears]))
            for i in range(len(linears[0]))
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].bias.detach()[None] for ls in linears]))
            for i in range(len(linears[0]))
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x (E n, d_in), t 0-dim or (E n,) -> (E n, d_out); time features as `MLP` builds them."""
        if len(x) % self.n_members:
            raise ValueError(f"{len(x)} rows do not split over {self.n_members} members")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(x.shape[0]).reshape(-1, 1) if t.numel() == 1 else t.reshape(-1, 1)
        h = torch.cat([x, self.time(t) if self.time else t], dim=-1)
        h = h.reshape(self.n_members, len(x) // self.n_members, -1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.weights) - 1:
                h = self.activation(h)
        return h.reshape(len(x), -1)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights as a state dict of the `MLP` it came from (copies)."""
        state = {
            f"net.{2 * i}.weight": w[k].detach().mT.clone() for i, w in enumerate(self.weights)
        }
        state |= {f"net.{2 * i}.bias": b[k, 0].detach().clone() for i, b in enumerate(self.biases)}
        if self.time is not None:
            state["time.freqs"] = self.time.freqs.clone()
        return state
