"""Input scaling of a noise predictor on a Gaussian path: the network sees x_t / sqrt(alpha_t^2 +
sigma_t^2) instead of x_t.

On a VE path x_t = z + sigma_t eps has scale sigma_max ~ 10 at t = 0 and the data's scale at
t = 1; dividing by sqrt(alpha^2 + sigma^2) keeps the input near unit scale at every t (EDM's
c_in with unit data scale). On a VP path alpha^2 + sigma^2 = 1 and the scaling is the identity.
The output is still the predicted noise eps_hat, so the score is -eps_hat / sigma_t as before.
"""

from __future__ import annotations

import torch
from torch import nn

from lib.paths.schedules import Schedule


class ScaledInput(nn.Module):
    """eps_hat(x, t) = net(x / sqrt(alpha_t^2 + sigma_t^2), t); x (n, ...), t (n,) or 0-dim."""

    def __init__(self, net: nn.Module, schedule: Schedule):
        super().__init__()
        self.net, self.schedule = net, schedule

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        a, s = self.schedule.alpha(t), self.schedule.sigma(t)
        scale = torch.rsqrt(a**2 + s**2)
        if scale.ndim == 1:
            scale = scale.reshape(len(x), *[1] * (x.ndim - 1))
        return self.net(x * scale, t)
