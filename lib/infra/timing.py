"""Wall-clock timing of a callable and power-law fits of cost against a size."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch


def best_time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Minimum wall time over `repeats` calls after one warm-up (the least noisy estimate)."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def power_law_exponent(sizes, costs) -> float:
    """k in cost ~ size^k: least-squares slope of log cost against log size."""
    return float(np.polyfit(np.log(sizes), np.log(costs), 1)[0])
