"""The P/C/PC table's orderings: reproduced, reversed or not resolved by the paired interval."""

import numpy as np
import pytest
import torch

from lib.metrics import pc_table
from lib.metrics.yardstick import Yardstick


def _gauss(n: int, shift: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1.0, (n, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def stick():
    def features(x):
        return torch.as_tensor(np.asarray(x, dtype=np.float32))

    return Yardstick(features, _gauss(300, 0, 0), _gauss(200, 0, 1), n_groups=10, seed=0)


def test_orderings_follow_the_paired_intervals(stick):
    good, bad, worse = (stick.score(_gauss(200, s, 2)) for s in (0.0, 1.0, 2.0))
    scores = {
        ("ve", "ancestral_sampling", "p_n"): bad,
        ("ve", "ancestral_sampling", "p_2n"): bad,
        ("ve", "ancestral_sampling", "pc_n"): good,
        ("ve", "probability_flow", "p_n"): good,  # the paper's improvement reversed
        ("ve", "probability_flow", "p_2n"): bad,
        ("ve", "probability_flow", "pc_n"): bad,  # the same images as P 2N: a zero difference
        ("ve", "corrector_only", "c_2n"): worse,
    }
    checks = pc_table.orderings(scores, ["ve"], ["ancestral_sampling", "probability_flow"])
    outcome = {(c["predictor"], c["better"], c["worse"]): c["outcome"] for c in checks}
    assert outcome == {
        ("ancestral_sampling", "pc_n", "p_n"): "reproduced",
        ("ancestral_sampling", "pc_n", "p_2n"): "reproduced",
        ("ancestral_sampling", "p_2n", "c_2n"): "reproduced",
        ("probability_flow", "pc_n", "p_n"): "reversed",
        ("probability_flow", "pc_n", "p_2n"): "not resolved",
        ("probability_flow", "p_2n", "c_2n"): "reproduced",
        ("probability_flow", "p_2n", "p_n"): "reversed",
    }
    for c in checks:  # the outcome is read off the interval of better - worse
        d = c["kid_difference"]
        if c["outcome"] == "reproduced":
            assert d["ci_high"] < 0
        elif c["outcome"] == "reversed":
            assert d["ci_low"] > 0
    assert pc_table.tally(checks) == {
        "reproduced": 4, "reversed": 2, "not resolved": 1, "total": 7
    }  # fmt: skip


def test_every_predictor_of_the_paper_has_its_row():
    for sde in ("ve", "vp"):
        rows = pc_table.PAPER_FID[sde]
        assert set(rows) == {"ancestral_sampling", "reverse_diffusion", "probability_flow", "c_2n"}
        for predictor in ("ancestral_sampling", "reverse_diffusion", "probability_flow"):
            # the paper's own table: PC beats P N and C 2N is the worst cell of every row
            assert rows[predictor]["pc_n"] <= rows[predictor]["p_n"] < rows["c_2n"]
