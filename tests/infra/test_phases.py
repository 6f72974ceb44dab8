"""Phases: exclusive wall time per name, added up over calls, across worker processes and into
the stage's metrics."""

import json

import pytest

from lib.infra import phases
from lib.infra import stage as stage_mod
from lib.infra.parallel import map_jobs


@pytest.fixture
def clock(monkeypatch):
    """A fake perf_counter that returns the times a test pushes onto it, in order."""
    times: list[float] = []
    monkeypatch.setattr(phases.time, "perf_counter", lambda: times.pop(0))
    phases.reset()
    yield times
    phases.reset()


def test_nested_phases_are_exclusive_and_add_up(clock):
    # outer opens at 0; inner 1 -> 4; outer closes at 10; outer again 20 -> 21
    clock.extend([0.0, 1.0, 4.0, 10.0, 20.0, 21.0])
    with phases.phase("outer"):
        with phases.phase("inner"):
            pass
    with phases.phase("outer"):
        pass
    assert phases.totals() == {"inner": 3.0, "outer": 8.0}  # 10 - 3, then + 1


def test_a_failing_block_still_counts(clock):
    clock.extend([0.0, 2.5])
    with pytest.raises(RuntimeError), phases.phase("training"):
        raise RuntimeError("boom")
    assert phases.totals() == {"training": 2.5}


def test_add_prefixes_another_process_tally(clock):
    clock.extend([0.0, 1.0])
    with phases.phase("figures"):
        pass
    phases.add({"training": 2.0, "figures": 0.5}, "workers")
    phases.add({"training": 3.0}, "workers")
    assert phases.totals() == {"figures": 1.0, "workers/figures": 0.5, "workers/training": 5.0}


def timed_job(seconds: float) -> float:
    """A worker job that records `seconds` of "training" without waiting for them."""
    phases._totals["training"] += seconds
    return seconds


def test_map_jobs_brings_back_the_workers_phases(monkeypatch):
    monkeypatch.setenv("WORKERS", "2")
    phases.reset()
    assert map_jobs(timed_job, [1.0, 2.0, 4.0]) == [1.0, 2.0, 4.0]
    recorded = phases.totals()
    assert recorded["workers/training"] == 7.0  # summed over jobs and workers
    assert 0 <= recorded["workers/other"] < 60
    assert recorded["parallel_fits"] > 0
    phases.reset()


def test_run_stage_writes_the_phases(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text("primer: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage_mod, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(
        stage_mod, "load_params", lambda stage: type("P", (), {"model_dump": lambda self: {}})()
    )
    phases._totals["stale"] = 9.0  # from before the stage: dropped

    def body(params, device, out_dir):
        phases._totals["evaluation"] += 1.25
        return {}

    stage_mod.run_stage("primer", body)
    run = json.loads((tmp_path / "results" / "primer" / "metrics.json").read_text())["run"]
    assert run["phases_s"]["evaluation"] == 1.25
    assert set(run["phases_s"]) == {"evaluation", "other"}  # the stale entry is dropped
    assert run["phases_s"]["other"] >= 0
