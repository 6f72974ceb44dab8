"""The learning-rate schedule: a linear warmup, then a constant or a cosine-decayed step size."""

from __future__ import annotations

import math
from typing import Literal

LrSchedule = Literal["constant", "cosine"]
LR_SCHEDULES = ("constant", "cosine")


def learning_rate(
    it: int, n_iters: int, lr: float, schedule: LrSchedule = "cosine", warmup: int = 0
) -> float:
    """Step size of iteration it (1-based): lr * it / warmup during the warmup, then lr, or
    lr (1 + cos(pi p)) / 2 with p = (it - warmup - 1) / (n_iters - warmup) in [0, 1) for cosine.

    The cosine's last step is lr (pi / (n_iters - warmup))^2 / 4, ~0 but not a wasted zero step.
    """
    if it <= warmup:
        return lr * it / warmup
    if schedule == "constant":
        return lr
    progress = (it - warmup - 1) / (n_iters - warmup)
    return 0.5 * lr * (1 + math.cos(math.pi * progress))
