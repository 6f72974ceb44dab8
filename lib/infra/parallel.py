"""Independent jobs (one fit per dataset x seed) spread over CPU worker processes.

Small models are dominated by per-operation overhead, so one process per core with one PyTorch
thread each beats one process with many threads. Results do not depend on the number of
workers: every job seeds its own generators. On a GPU the jobs run one after another in this
process (they would only queue on the one device), and so they do under data parallelism
(`torchrun`, `lib.infra.distributed`), where every rank takes part in every job. Given each
job's expected `cost`, the pool starts the longest first (longest-processing-time scheduling:
no long job left to run alone at the end while the other core idles); results come back in the
jobs' order. Each worker's
`phases` tally comes back with its results and is added to this process's under `workers/`
(core-seconds).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import torch

from lib.infra import phases
from lib.infra.distributed import current_world

Job = TypeVar("Job")
Result = TypeVar("Result")


def default_workers(n_jobs: int, device: torch.device | str) -> int:
    """WORKERS from the environment, else one per CPU core; 1 on a GPU, for a single job, or
    inside a process group (data-parallel jobs run in turn, each over all ranks)."""
    if torch.device(device).type != "cpu" or n_jobs <= 1 or current_world().size > 1:
        return 1
    raw = os.environ.get("WORKERS")
    if raw is not None:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"WORKERS = {raw!r}: expected a positive integer")
        return min(int(raw), n_jobs)
    return max(1, min(len(os.sched_getaffinity(0)), n_jobs))


def _init_worker() -> None:
    torch.set_num_threads(1)


def _run_timed(fn: Callable[[Job], Result], job: Job) -> tuple[Result, dict[str, float]]:
    """fn(job) in a worker, with the phases it recorded (the worker's tally starts empty)."""
    phases.reset()
    with phases.phase("other"):
        result = fn(job)
    return result, phases.totals()


def longest_first(jobs: Sequence[Job], cost: Callable[[Job], float] | None) -> list[int]:
    """Indices of `jobs` by decreasing cost (ties and cost=None: in the given order)."""
    if cost is None:
        return list(range(len(jobs)))
    return sorted(range(len(jobs)), key=lambda i: -cost(jobs[i]))


def map_jobs(
    fn: Callable[[Job], Result],
    jobs: Sequence[Job],
    device: torch.device | str = "cpu",
    cost: Callable[[Job], float] | None = None,
) -> list[Result]:
    """[fn(job) for job in jobs], in worker processes when several CPU cores are available.

    `fn` must be a module-level function and jobs/results picklable (state dicts, floats,
    lists). Workers are spawned (not forked: a forked PyTorch may deadlock in its thread pool).
    `cost(job)`, when given, is a job's expected run time in any unit: the longest start first.
    """
    workers = default_workers(len(jobs), device)
    if workers == 1:
        return [fn(job) for job in jobs]
    order = longest_first(jobs, cost)
    context = multiprocessing.get_context("spawn")
    with (
        phases.phase("parallel_fits"),
        ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool,
    ):
        timed = list(pool.map(_run_timed, [fn] * len(jobs), [jobs[i] for i in order]))
    for _, recorded in timed:
        phases.add(recorded, "workers")
    results: list = [None] * len(jobs)
    for i, (result, _) in zip(order, timed, strict=True):
        results[i] = result
    return results
