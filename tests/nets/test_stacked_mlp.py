"""StackedMLP: each row block goes through its own member, gradients stay within members, and
a member's weights come back as its MLP's state dict."""

import pytest
import torch

from lib.nets.mlp import MLP
from lib.nets.stacked_mlp import StackedMLP


@pytest.mark.parametrize("n_freq", [0, 3])
def test_stacked_mlp_rows_go_through_their_own_member(n_freq):
    torch.manual_seed(0)
    members = [MLP(2, 3, [16, 8], "tanh", n_freq) for _ in range(3)]
    stacked = StackedMLP(members)
    x, t = torch.randn(3 * 5, 2), torch.rand(3 * 5)
    want = torch.cat([m(x[5 * k : 5 * k + 5], t[5 * k : 5 * k + 5]) for k, m in enumerate(members)])
    torch.testing.assert_close(stacked(x, t), want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(  # one time for every row, as the solvers pass it
        stacked(x, torch.tensor(0.4)),
        torch.cat([m(x[5 * k : 5 * k + 5], torch.tensor(0.4)) for k, m in enumerate(members)]),
        rtol=1e-6,
        atol=1e-6,
    )


def test_stacked_mlp_member_state_is_the_members_own():
    torch.manual_seed(1)
    members = [MLP(1, 1, [8, 8], "silu", 2) for _ in range(2)]
    stacked = StackedMLP(members)
    with torch.no_grad():
        stacked.weights[0][1] += 1.0  # member 1 moves, member 0 does not
    back = MLP(1, 1, [8, 8], "silu", 2)
    back.load_state_dict(stacked.member_state(0))
    assert all(
        torch.equal(a, b)
        for a, b in zip(back.state_dict().values(), members[0].state_dict().values())
    )
    back.load_state_dict(stacked.member_state(1))
    assert torch.equal(back.net[0].weight, members[1].net[0].weight + 1.0)


def test_stacked_mlp_gradients_stay_within_members():
    torch.manual_seed(2)
    stacked = StackedMLP([MLP(1, 1, [4], "tanh") for _ in range(3)])
    x = torch.randn(6, 1)
    stacked(x, torch.tensor(0.5))[2:4].sum().backward()  # rows of member 1 only
    for w in stacked.weights:
        assert w.grad[1].abs().sum() > 0 and not w.grad[0].any() and not w.grad[2].any()


def test_stacked_mlp_errors():
    with pytest.raises(ValueError, match="one architecture"):
        StackedMLP([MLP(1, 1, [4], "tanh"), MLP(1, 1, [5], "tanh")])
    with pytest.raises(ValueError, match="one architecture"):
        StackedMLP([MLP(1, 1, [4], "tanh"), MLP(1, 1, [4], "silu")])
    with pytest.raises(ValueError, match="do not split over 2 members"):
        StackedMLP([MLP(1, 1, [4], "tanh")] * 2)(torch.randn(3, 1), torch.tensor(0.0))
