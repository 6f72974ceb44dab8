"""Where a stage's time goes: wall seconds per named phase (training steps, validation,
evaluation, figures), recorded in each stage's metrics under `run.phases_s`.

A process-wide tally, like a logger: code marks a phase with `with phase("validation"):` and
never passes a recorder around. Nested phases are exclusive: an inner phase's time is taken out
of the outer one, so the phases of one process add up to at most its wall time. Worker processes
(`lib.infra.parallel`) return their tallies with their results; the parent adds them under
`workers`, in core-seconds summed over the workers.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

_totals: defaultdict[str, float] = defaultdict(float)
_stack: list[list] = []  # open phases: [name, start, seconds spent in inner phases]


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the block's wall time, less that of phases opened inside it, to `name`."""
    entry = [name, time.perf_counter(), 0.0]
    _stack.append(entry)
    try:
        yield
    finally:
        _stack.pop()
        elapsed = time.perf_counter() - entry[1]
        _totals[name] += elapsed - entry[2]
        if _stack:
            _stack[-1][2] += elapsed


def totals() -> dict[str, float]:
    """Seconds per phase recorded in this process since the last `reset`, rounded to 0.01 s."""
    return {name: round(seconds, 2) for name, seconds in sorted(_totals.items())}


def reset() -> None:
    _totals.clear()


def add(recorded: dict[str, float], prefix: str) -> None:
    """Add another process's totals under `prefix/<phase>`."""
    for name, seconds in recorded.items():
        _totals[f"{prefix}/{name}"] += seconds
