"""train_members against one-by-one `train` runs: same losses, validations, selected iterations
and weights (to float rounding), each member with its own batches and its own best iteration."""

import copy

import pytest
import torch

from lib.nets.mlp import MLP
from lib.nets.stacked_mlp import StackedMLP
from lib.training.ensemble import train_members
from lib.training.loop import train

N_ITERS, EVAL_EVERY, BATCH = 40, 5, 32


def _data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 1, generator=g)
    return x, torch.sin(3 * x) + 0.1 * torch.randn(200, 1, generator=g)


def _mse(model, x, y) -> torch.Tensor:
    return ((model(x, torch.tensor(0.0)) - y) ** 2).mean()


def _batch_mse(model, x, y, idx) -> torch.Tensor:
    return _mse(model, x[idx], y[idx])


def test_members_trained_together_equal_their_own_runs():
    x, y = _data(0)
    vx, vy = _data(1)
    seeds = [0, 1, 2]
    members = []
    for s in seeds:
        torch.manual_seed(s)
        members.append(MLP(1, 1, [16, 16], "tanh"))
    stacked = StackedMLP(copy.deepcopy(members))

    alone = []
    for s, m in zip(seeds, members):
        g = torch.Generator().manual_seed(100 + s)
        alone.append(
            train(
                m,
                lambda it, m=m, g=g: _batch_mse(m, x, y, torch.randperm(200, generator=g)[:BATCH]),
                n_iters=N_ITERS,
                lr=0.05,
                validate=lambda m: _mse(m, vx, vy).item(),
                eval_every=EVAL_EVERY,
                maximize=False,
                progress=False,
            )
        )

    gens = [torch.Generator().manual_seed(100 + s) for s in seeds]

    def loss(it):
        idx = torch.cat([torch.randperm(200, generator=g)[:BATCH] for g in gens])
        out = stacked(x[idx], torch.tensor(0.0))
        return ((out - y[idx]) ** 2).reshape(len(seeds), -1).mean(1)

    def validate(model):
        out = model(vx.repeat(len(seeds), 1), torch.tensor(0.0))
        return ((out - vy.repeat(len(seeds), 1)) ** 2).reshape(len(seeds), -1).mean(1)

    together, states = train_members(
        stacked,
        len(seeds),
        loss,
        validate,
        stacked.member_state,
        n_iters=N_ITERS,
        lr=0.05,
        eval_every=EVAL_EVERY,
        maximize=False,
        progress=False,
    )
    # the lr is large enough that the validation loss goes up and down: selections differ
    assert len({r.best_iter for r in alone}) > 1
    for a, b, state, m in zip(alone, together, states, members):
        assert b.best_iter == a.best_iter and b.val_iters == a.val_iters
        torch.testing.assert_close(b.train_loss, a.train_loss, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(b.val_values, a.val_values, rtol=1e-4, atol=1e-6)
        for key, value in m.state_dict().items():  # m holds its own run's best weights
            torch.testing.assert_close(state[key], value, rtol=1e-4, atol=1e-5)


def test_loss_of_the_wrong_shape_is_refused():
    stacked = StackedMLP([MLP(1, 1, [4], "tanh") for _ in range(2)])
    x = torch.randn(4, 1)
    with pytest.raises(ValueError, match=r"must return \(2,\), got \(\)"):
        train_members(
            stacked,
            2,
            lambda it: stacked(x, torch.tensor(0.0)).sum(),
            lambda m: torch.zeros(2),
            stacked.member_state,
            n_iters=3,
            lr=0.01,
            progress=False,
        )
