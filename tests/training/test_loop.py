"""The training loop: least squares reached, best weights restored, the optimizer following the
lr schedule, the EMA weights validated and returned, the starting weights kept when training
only hurts. Resuming from a checkpoint: tests/training/test_checkpoint.py."""

import math

import pytest
import torch
from torch import nn

from lib.training.loop import train
from lib.training.lr_schedule import learning_rate

ADAM_EPS = 1e-8  # torch's default: an Adam step on a constant gradient g is lr g / (|g| + eps)


def _scalar_model(value: float = 0.0) -> nn.Module:
    model = nn.Module()
    model.p = nn.Parameter(torch.tensor(value, dtype=torch.float64))
    return model


def test_linear_regression_reaches_least_squares():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen, dtype=torch.float64)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]], dtype=torch.float64) + 0.3
    y = y + 0.1 * torch.randn(64, 1, generator=gen, dtype=torch.float64)
    design = torch.cat([x, torch.ones(64, 1, dtype=torch.float64)], dim=1)
    exact = torch.linalg.lstsq(design, y).solution[:, 0]  # (w, b)
    torch.manual_seed(0)
    model = nn.Linear(3, 1).double()
    result = train(
        model, lambda it: ((model(x) - y) ** 2).mean(), n_iters=600, lr=0.05, progress=False
    )
    fitted = torch.cat([model.weight[0], model.bias]).detach()
    # The loss is a strictly convex quadratic; Adam with cosine decay lands within ~1e-6.
    assert torch.allclose(fitted, exact, atol=1e-4, rtol=0)
    assert len(result.train_loss) == 600 and result.train_loss[-1] < result.train_loss[0]
    assert result.best_iter == 600 and math.isnan(result.best_value) and result.resumed_from == 0


@pytest.mark.parametrize("maximize", [True, False])
def test_best_validation_weights_are_restored(maximize):
    """validate peaks at iteration 60, returns NaN at 80: the weights seen at 60 come back."""
    model = _scalar_model()
    seen: dict[int, torch.Tensor] = {}

    def validate(m: nn.Module) -> float:
        it = 10 * (len(seen) + 1)
        seen[it] = m.p.detach().clone()
        value = math.nan if it == 80 else -abs(it - 60.0)
        return value if maximize else -value

    result = train(
        model,
        lambda it: model.p * 1.0,  # constant gradient: p moves by lr each step
        n_iters=100,
        lr=0.1,
        lr_schedule="constant",
        validate=validate,
        eval_every=10,
        maximize=maximize,
        progress=False,
    )
    assert result.val_iters == list(range(10, 101, 10))
    assert result.best_iter == 60 and result.best_value == 0.0
    assert torch.equal(model.p.detach(), seen[60])
    assert not torch.equal(seen[60], seen[100])


def test_all_nan_validation_keeps_initial_weights():
    model = _scalar_model(2.0)
    result = train(
        model,
        lambda it: model.p * 1.0,
        n_iters=20,
        lr=0.1,
        validate=lambda m: math.nan,
        eval_every=10,
        progress=False,
    )
    assert result.best_iter == 0 and math.isnan(result.best_value)
    assert model.p.item() == 2.0


def test_unknown_lr_schedule_is_rejected():
    with pytest.raises(ValueError, match="allowed"):
        train(_scalar_model(), lambda it: torch.zeros(()), n_iters=1, lr=1.0, lr_schedule="step")


def test_optimizer_follows_the_schedule():
    """On a constant gradient Adam moves by lr_it / (1 + eps): the steps read off the lr."""
    model, values = _scalar_model(), []

    def loss_fn(it: int) -> torch.Tensor:
        values.append(model.p.item())
        return model.p * 1.0

    n, lr = 50, 0.2
    train(model, loss_fn, n_iters=n, lr=lr, warmup=5, progress=False)
    values.append(model.p.item())
    steps = torch.tensor(values[:-1], dtype=torch.float64) - torch.tensor(
        values[1:], dtype=torch.float64
    )
    expected = [learning_rate(it, n, lr, "cosine", 5) for it in range(1, n + 1)]
    expected = torch.tensor(expected, dtype=torch.float64)
    assert torch.allclose(steps, expected / (1 + ADAM_EPS), atol=1e-12, rtol=0)


def test_ema_formula():
    """p_k = p_0 - k delta (constant gradient, constant lr); the model ends with the recursion
    e_k = d_k e_(k-1) + (1 - d_k) p_k, e_0 = p_0, d_k = min(d, (1 + k) / (10 + k)), and validate
    sees the EMA weights."""
    n, lr, decay, p0 = 30, 0.1, 0.8, 1.0
    model, seen = _scalar_model(p0), []
    train(
        model,
        lambda it: model.p * 1.0,
        n_iters=n,
        lr=lr,
        lr_schedule="constant",
        ema_decay=decay,
        validate=lambda m: seen.append(m.p.item()) or -float(len(seen)),  # best: the first
        eval_every=n,
        progress=False,
    )
    delta = lr / (1 + ADAM_EPS)
    ema = p0
    for k in range(1, n + 1):
        d = min(decay, (1 + k) / (10 + k))
        ema = d * ema + (1 - d) * (p0 - k * delta)
    assert seen == [pytest.approx(ema, abs=1e-12)]
    assert model.p.item() == pytest.approx(ema, abs=1e-12)
    assert abs(ema - (p0 - n * delta)) > 0.3  # the EMA lags the raw weights visibly


def test_validate_start_keeps_the_starting_weights_when_training_only_hurts():
    """Fine-tuning whose every step worsens validation returns the weights it started from."""
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    target = model.weight.detach().clone()

    def validate(m: nn.Module) -> float:  # highest at the starting weights
        return -(m.weight - target).pow(2).sum().item()

    result = train(
        model,
        lambda it: -model.weight.sum(),  # drifts away from the start
        n_iters=20,
        lr=0.1,
        validate=validate,
        eval_every=5,
        validate_start=True,
        progress=False,
    )
    assert result.best_iter == 0 and result.val_iters[0] == 0
    assert result.best_value == 0.0
    assert all(torch.equal(model.state_dict()[k], v) for k, v in start.items())


@pytest.mark.parametrize("mode", [True, False])
def test_model_ends_in_the_mode_it_came_in(mode):
    model = nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5)).train(mode)
    train(
        model,
        lambda it: model[0].weight.sum(),
        n_iters=3,
        lr=0.1,
        validate=lambda m: 0.0,
        validate_start=True,  # validation puts the evaluated model in eval mode first
        progress=False,
    )
    assert model.training == mode


@pytest.mark.parametrize("grad_clip", [1.0, None])
def test_gradient_clipping_tames_one_huge_gradient(grad_clip):
    """loss = a_it w with a_1 = 1e6, then a_it = 1. Clipped to norm 1, every gradient is 1 (up to
    clip_grad_norm_'s 1e-6 guard), so Adam's bias-corrected m / sqrt(v) is 1 and w moves by
    exactly lr a step. Unclipped, the first gradient dominates v for many steps: after it, Adam's
    steps are lr m / sqrt(v) ~ 0.67 lr, 0.55 lr, ... and w ends well short of -lr n."""
    model = _scalar_model(0.0)
    n, lr = 6, 0.1
    slopes = [1e6] + [1.0] * (n - 1)
    train(
        model,
        lambda it: slopes[it - 1] * model.p,
        n_iters=n,
        lr=lr,
        lr_schedule="constant",
        grad_clip=grad_clip,
        progress=False,
    )
    if grad_clip is not None:
        assert model.p.item() == pytest.approx(-lr * n, abs=1e-6)  # measured 2.4e-8 off
    else:  # the same run without clipping (w = -0.33): the clipping is what makes it exact
        assert model.p.item() > -lr * n + 0.2
