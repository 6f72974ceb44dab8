"""MLP on (x, t): shapes, time broadcasting, time actually used."""

import pytest
import torch

from lib.nets.mlp import MLP


@pytest.mark.parametrize("n_freq", [0, 4])
def test_mlp_shapes_and_time_broadcast(n_freq):
    torch.manual_seed(0)
    net = MLP(2, 3, [16, 16], "silu", n_freq)
    x = torch.randn(5, 2)
    scalar = net(x, torch.tensor(0.3))
    per_sample = net(x, torch.full((5,), 0.3))
    assert scalar.shape == (5, 3)
    assert torch.allclose(scalar, per_sample)
    assert not torch.allclose(scalar, net(x, torch.tensor(0.7)))


def test_unknown_activation():
    with pytest.raises(ValueError, match="allowed"):
        MLP(1, 1, [4], "gelu2")
