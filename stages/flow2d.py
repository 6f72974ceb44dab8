"""Stage flow2d: flow matching of 2D toy data under several recipes, exact log-likelihood against
the true density, sample distances against the held-out floor, solver sweeps, a score model and
SDE sampling for several sigma, and the corruption of data along each schedule's path."""

from __future__ import annotations

from lib.flows import flow2d_study as study
from lib.infra import layout
from lib.infra.parallel import map_jobs
from lib.infra.phases import phase
from lib.infra.stage import run_stage
from lib.plots import flows_2d as flows_2d_plots
from lib.plots import panels_2d
from lib.sde import samplers
from lib.training.curves import save_fit


def main(p, device, out):
    if not layout.toy_data(2, p.dataset).exists():
        raise SystemExit(
            f"error: flow2d uses 2D dataset {p.dataset!r}, but {layout.toy_data(2, p.dataset)} "
            "does not exist: add it to data.two_d.datasets in params.yaml"
        )
    figures = out / "figures"
    corruption = study.corruption(p, device)
    flows_2d_plots.corruption_2d(corruption.rows, p.corruption.times, figures / "corruption.pdf")
    runs = map_jobs(study.run_job, study.jobs(p), device, cost=study.cost)
    for r in runs:
        net = study.network(p.network, device, r.state)
        model = layout.model("flow2d", f"{r.job.variant}_seed{r.job.seed}")
        save_fit(out, model, net, r.loss, [], "", [])
    main_run = next(r for r in runs if r.job.variant == p.main_variant)
    main_net = study.network(p.network, device, main_run.state)
    data = study.splits(p.dataset, device)
    with phase("evaluation"):
        metrics = study.summarise(p, runs, main_net, data, corruption.structure_left)
        f = study.main_figures(p, main_run, main_net, data, device)
    e, floor = p.eval, metrics["floor"]["mmd"]
    flows_2d_plots.path_vs_generated(
        f.true_x, f.generated, p.corruption.times, figures / "path_vs_generated.pdf"
    )
    panels_2d.trajectories_2d(
        {f"{e.plot_method}, {e.plot_n_steps} steps": f.trajectory}, figures / "trajectories.pdf"
    )
    flows_2d_plots.samples_2d(
        {rf"$\sigma = {sigma:g}$": x for sigma, x in f.sde.items()}, figures / "sde_samples.pdf"
    )
    flows_2d_plots.loss_curves(
        {"flow matching": main_run.loss, "score (noise)": main_run.score.loss},
        figures / "losses.pdf",
    )
    panels_2d.metric_vs_nfe(
        {
            m: ([samplers.nfe(m, n) for n in e.sweep_n_steps], list(v.values()))
            for m, v in metrics["n_steps"].items()
        },
        floor,
        "MMD to test",
        figures / "mmd_vs_nfe.pdf",
    )
    sde = list(metrics["sde"].values())
    flows_2d_plots.metric_vs_sigma(
        [v["sigma"] for v in sde],
        [v["mmd"]["mean"] for v in sde],
        floor,
        "MMD to test",
        figures / "mmd_vs_sigma.pdf",
    )
    return metrics


if __name__ == "__main__":
    run_stage("flow2d", main, threads=1)  # small 2D MLPs: one thread per worker process
