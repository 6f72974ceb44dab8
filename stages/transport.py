"""Stage transport: data-to-data flows between 2D toy data sets (source at t = 0, target at
t = 1), independent vs minibatch-OT pairs: MMD to the target against Euler steps, straightness."""

from __future__ import annotations

from lib.flows import transport_study
from lib.infra import layout
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage
from lib.plots import panels_2d


def main(p, device, out):
    for name in sorted({n for pair in p.pairs for n in pair}):
        if not layout.toy_data(2, name).exists():
            raise SystemExit(
                f"error: transport uses 2D dataset {name!r}, but {layout.toy_data(2, name)} does "
                "not exist: add it to data.two_d.datasets in params.yaml"
            )
    runs = map_jobs(transport_study.run_job, transport_study.jobs(p), device)
    pairs = transport_study.summarise(p, runs, device)
    figures = out / "figures"
    for pair in pairs:
        panels_2d.metric_vs_nfe(
            {c: (p.sweep_n_steps, v) for c, v in pair.mmd.items()},
            pair.floor_mmd,
            "MMD to target",
            figures / f"{pair.key}_mmd.pdf",
        )
    panels = {
        f"{pair.source} to {pair.target}\n{c}": path
        for pair in pairs
        for c, path in pair.paths.items()
    }
    panels_2d.trajectories_2d(panels, figures / "transport.pdf")
    return {"pairs": {pair.key: pair.metrics for pair in pairs}}


if __name__ == "__main__":
    run_stage("transport", main, threads=1)  # small 2D MLPs: one thread per worker process
