"""Input scaling of a noise predictor: identity on VP, 1 / sqrt(1 + sigma_t^2) on VE."""

import math

import torch
from torch import nn

from lib.nets.preconditioning import ScaledInput
from lib.paths.schedules import VESchedule, VPSchedule


class Echo(nn.Module):
    def forward(self, x, t):
        return x


def test_vp_input_is_unchanged():
    model = ScaledInput(Echo(), VPSchedule())
    x, t = torch.randn(5, 1, 4, 4), torch.rand(5)
    torch.testing.assert_close(model(x, t), x, rtol=1e-6, atol=1e-6)


def test_ve_input_has_unit_scale_at_the_prior():
    sch = VESchedule(sigma_min=0.01, sigma_max=9.0)
    model = ScaledInput(Echo(), sch)
    x = torch.ones(3, 1, 2, 2)
    t = torch.tensor([0.0, 0.5, 1.0])
    sigma = sch.sigma(t)
    want = 1 / torch.sqrt(1 + sigma**2)
    torch.testing.assert_close(model(x, t)[:, 0, 0, 0], want)
    assert math.isclose(
        model(x, torch.tensor(0.0))[0, 0, 0, 0].item(), 1 / math.sqrt(82), rel_tol=1e-6
    )
    # x_0 ~ N(z, sigma_max^2): the scaled input has variance ~ 1 whatever sigma_max
    x0 = sch.sigma_max * torch.randn(4000, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    assert abs(model(x0, torch.zeros(4000)).var().item() - 81 / 82) < 0.05
