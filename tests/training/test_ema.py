"""The EMA: the warmed-up decay in closed form, the update rule, buffers copied."""

import math

import pytest
import torch
from torch import nn

from lib.training.ema import ema_decay_at, make_ema, update_ema


def test_ema_decay_closed_form():
    """d_k = min(d, (1 + k) / (10 + k)): the warm-up ramp until it reaches d, then d."""
    assert ema_decay_at(0.999, 1) == pytest.approx(2 / 11)
    assert ema_decay_at(0.5, 8) == 0.5  # 9 / 18 = 0.5: the ramp meets d at k = 8
    assert ema_decay_at(0.5, 7) == pytest.approx(8 / 17)
    assert ema_decay_at(0.999, 8989) < 0.999 and ema_decay_at(0.999, 8991) == 0.999  # k = 8990
    assert ema_decay_at(0.999, 10_000) == 0.999


def test_ema_warmup_forgets_the_initial_weights():
    """The initial weights' share of the EMA is prod_k d_k. While the ramp is below d the product
    telescopes: prod_{k=1}^n (1 + k) / (10 + k) = 10! (n + 1)! / (n + 10)!, ~0 after 2000 steps,
    where a constant 0.999 would keep 0.999^2000 = 0.135."""
    n, share = 2000, 1.0
    for k in range(1, n + 1):
        share *= ema_decay_at(0.999, k)
    closed = math.factorial(10) / math.prod(range(n + 2, n + 11))
    assert share == pytest.approx(closed, rel=1e-9)
    assert share < 1e-20 and 0.999**n == pytest.approx(0.135, abs=1e-3)


def test_update_ema_follows_the_recursion_and_copies_buffers():
    model = nn.BatchNorm1d(2)  # weight, bias and running-statistics buffers
    ema = make_ema(model)
    assert not any(p.requires_grad for p in ema.parameters())
    with torch.no_grad():
        model.weight.fill_(3.0)
        model.running_mean.fill_(7.0)
    update_ema(ema, model, 0.75)  # 0.75 * 1 + 0.25 * 3
    assert torch.equal(ema.weight, torch.full((2,), 1.5))
    assert torch.equal(ema.running_mean, model.running_mean)
    assert ema.weight.data_ptr() != model.weight.data_ptr()
