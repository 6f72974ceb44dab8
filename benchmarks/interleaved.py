"""Timing variants of one piece of work fairly on a machine whose speed drifts: each variant
once as a warm-up, then round after round, each variant once per round; medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each callable over `repeats` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():
        fn()
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def print_against(label: str, seconds: dict[str, float], baseline: str) -> None:
    """`label:` then one line per variant: its median and its speed relative to `baseline`."""
    print(f"{label}:")
    width = max(len(name) for name in seconds) + 2
    for name, median in seconds.items():
        ratio = seconds[baseline] / median
        print(f"  {name:<{width}}{median:>9.4f} s   {ratio:>5.2f}x {baseline}'s speed")
