"""Jobs in worker processes give exactly what they give in this process, in order."""

import pytest
import torch

from lib.infra.parallel import default_workers, longest_first, map_jobs


def seeded_draw(seed: int) -> tuple[int, float]:
    """A job that depends only on its seed, and on one PyTorch thread in a worker."""
    g = torch.Generator().manual_seed(seed)
    return seed, torch.randn(1000, generator=g).sum().item()


def test_workers_give_the_same_results_in_order(monkeypatch):
    jobs = [3, 1, 4, 1, 5]
    monkeypatch.setenv("WORKERS", "1")
    inline = map_jobs(seeded_draw, jobs)
    monkeypatch.setenv("WORKERS", "2")
    assert default_workers(len(jobs), "cpu") == 2
    assert map_jobs(seeded_draw, jobs) == inline
    assert [seed for seed, _ in inline] == jobs


def test_longest_jobs_start_first_and_results_keep_the_jobs_order(monkeypatch):
    jobs = [3, 1, 4, 1, 5]
    assert longest_first(jobs, float) == [4, 2, 0, 1, 3]  # stable among equal costs
    assert longest_first(jobs, None) == [0, 1, 2, 3, 4]
    monkeypatch.setenv("WORKERS", "2")
    assert map_jobs(seeded_draw, jobs, cost=float) == [seeded_draw(j) for j in jobs]


def test_worker_count_rules(monkeypatch):
    monkeypatch.setenv("WORKERS", "8")
    assert default_workers(3, "cpu") == 3  # never more workers than jobs
    assert default_workers(1, "cpu") == 1
    assert default_workers(5, "cuda") == 1  # one device: jobs run in turn
    monkeypatch.setenv("WORKERS", "two")
    with pytest.raises(ValueError, match="WORKERS = 'two'"):
        default_workers(5, "cpu")
