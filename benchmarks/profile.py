"""Where the pipeline's time goes: per stage, its run time and the phases it recorded
(`run.phases_s` of each `results/<stage>/metrics.json`, written by `lib.infra.stage`), then
DVC's own cost: a no-op `dvc repro` and `dvc status` with everything up to date.

Run: python -m benchmarks.profile [--dvc-repeats 3]   (after a `dvc repro`; not a test)

Phases of the stage's own process are wall seconds: training steps, validation, evaluation,
figures (matplotlib draws when it saves), parallel_fits (the wall time of the worker pool), and
other (the rest: loading, setup, writing). `workers/<phase>` are core-seconds summed over the
worker processes, which run one per core beside each other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

import yaml

from lib.infra import layout


def stage_rows() -> list[tuple[str, float, dict[str, float]]]:
    """(stage, runtime_s, phases_s) for every stage of dvc.yaml with a metrics file, in order."""
    stages = yaml.safe_load(open("dvc.yaml"))["stages"]
    rows = []
    for name in stages:
        path = layout.RESULTS / name / "metrics.json"
        if not path.exists():
            continue
        run = json.loads(path.read_text()).get("run", {})
        if "runtime_s" in run:
            rows.append((name, run["runtime_s"], run.get("phases_s", {})))
    return rows


def median_seconds(command: list[str], repeats: int) -> float:
    """Median wall time of a command over `repeats` runs (it must succeed)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dvc-repeats", type=int, default=3, help="0 skips the DVC timings")
    args = parser.parse_args()
    rows = stage_rows()
    total = sum(seconds for _, seconds, _ in rows)
    print(f"{'stage':<18}{'seconds':>9}{'share':>7}  phases (seconds)")
    for name, seconds, phases in sorted(rows, key=lambda r: -r[1]):
        parts = ", ".join(f"{k} {v:g}" for k, v in sorted(phases.items(), key=lambda kv: -kv[1]))
        print(f"{name:<18}{seconds:>9.1f}{seconds / total:>7.0%}  {parts}")
    print(f"{'all stages':<18}{total:>9.1f}  ({total / 60:.1f} min of stage run time)")
    if args.dvc_repeats > 0:
        status = subprocess.run(["dvc", "status", "--quiet"], capture_output=True)
        note = "up to date" if status.returncode == 0 else "NOT up to date: timings include work"
        repro = median_seconds(["dvc", "repro"], args.dvc_repeats)
        stat = median_seconds(["dvc", "status"], args.dvc_repeats)
        print(f"no-op dvc repro {repro:.2f} s, dvc status {stat:.2f} s (medians, pipeline {note})")


if __name__ == "__main__":
    main()
