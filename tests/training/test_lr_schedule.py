"""The learning-rate schedule: warmup, cosine decay to ~0, constant."""

import math

import pytest

from lib.training.lr_schedule import learning_rate


def test_learning_rate_schedules():
    n, lr, warmup = 200, 0.3, 20
    cosine = [learning_rate(it, n, lr, "cosine", warmup) for it in range(1, n + 1)]
    assert cosine[0] == pytest.approx(lr / warmup) and cosine[warmup - 1] == pytest.approx(lr)
    assert cosine[warmup] == pytest.approx(lr)  # the first cosine step is the full lr
    assert all(a > b for a, b in zip(cosine[warmup:-1], cosine[warmup + 1 :]))
    # The last step is lr (pi / 180)^2 / 4 = 2.3e-5: ~0 at the end.
    assert cosine[-1] == pytest.approx(lr * (math.pi / (n - warmup)) ** 2 / 4, rel=1e-3)
    assert learning_rate(n + 1, n, lr, "cosine", warmup) == pytest.approx(0.0, abs=1e-15)
    assert [learning_rate(it, n, lr, "constant") for it in (1, 100, n)] == [lr] * 3
