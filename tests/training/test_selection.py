"""Best-validation selection: the best value by the stated criterion wins, NaN never does, ties
keep the earlier weights, and the kept weights are a copy."""

import math

import pytest
import torch
from torch import nn

from lib.training.selection import Selection


def _offer_all(values: list[float], maximize: bool) -> tuple[Selection, nn.Module]:
    """Offer value i with weights p = i (i = 1, 2, ...) after iteration 10 i."""
    module = nn.Linear(1, 1, bias=False)
    best = Selection.start(module, maximize)
    for i, value in enumerate(values, 1):
        with torch.no_grad():
            module.weight.fill_(float(i))
        best.offer(value, 10 * i, module)
    return best, module


@pytest.mark.parametrize("maximize", [True, False])
def test_selection_keeps_the_best_by_the_criterion(maximize):
    sign = 1.0 if maximize else -1.0
    values = [sign * v for v in (0.5, 2.0, math.nan, 2.0, 1.0)]  # best: the first 2.0
    best, module = _offer_all(values, maximize)
    assert (best.value, best.iter) == (sign * 2.0, 20)
    assert best.state["weight"].item() == 2.0 and module.weight.item() == 5.0  # a copy


def test_nan_never_wins_and_the_initial_weights_stay():
    module = nn.Linear(1, 1, bias=False)
    start = module.weight.item()
    best, _ = _offer_all([math.nan, math.nan], maximize=True)
    assert best.iter == 0 and best.value == -math.inf
    best = Selection.start(module, maximize=False)
    assert not best.offer(math.nan, 1, module) and best.value == math.inf
    assert best.state["weight"].item() == start


def test_selection_state_dict_round_trip():
    best, _ = _offer_all([1.0, 3.0, 2.0], maximize=True)
    again = Selection.from_state_dict(best.state_dict(), maximize=True)
    assert (again.value, again.iter) == (3.0, 20)
    assert torch.equal(again.state["weight"], best.state["weight"])
