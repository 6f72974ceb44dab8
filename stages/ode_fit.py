"""Stage ode_fit: 1D continuous normalizing flows fitted by exact maximum likelihood."""

from __future__ import annotations

from lib.data.toy import expected_log_likelihood, make_density
from lib.flows import cnf
from lib.flows import cnf_study as study
from lib.infra import layout
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage, seeded_generator
from lib.plots import fits_1d as fits_1d_plots
from lib.training.curves import save_fit


def figures(p, name, splits, field, convergence, device, out) -> None:
    """Density, trajectories and integrator convergence of the main network's first seed."""
    fits_1d_plots.density_fit_1d(
        f"CNF density, {name}",
        splits.train.cpu(),
        make_density(name),
        lambda y: cnf.log_prob(field, y.to(device), p.eval.n_steps, "rk4").cpu(),
        out / "figures" / f"density_{name}.pdf",
    )
    gen = seeded_generator(p.seeds[0], device)
    paths = cnf.sample(field, 40, 1, 100, "rk4", gen, device, return_path=True)
    fits_1d_plots.sample_paths_1d(
        paths.cpu(), f"CNF trajectories, {name}", out / "figures" / f"paths_{name}.pdf"
    )
    fits_1d_plots.integrator_convergence(
        convergence, name, out / "figures" / f"integrators_{name}.pdf"
    )


def main(p, device, out):
    groups = map_jobs(study.run_job, study.jobs(p), device, cost=study.cost)
    runs = [r for group in groups for r in group]
    data = {name: study.splits(name, device) for name in p.datasets}
    fields = {}
    for r in runs:
        field = study.field(p.networks[r.job.network], data[r.job.dataset].train, r.state)
        fields[r.job.tag] = field
        fit = r.fit
        model = layout.model("ode_fit", r.job.tag)
        save_fit(out, model, field, fit.train_loss, fit.val_iters, "log_likelihood", fit.val_values)

    metrics = {}
    for name in p.datasets:
        splits = data[name]
        truth = expected_log_likelihood(name, splits.test.cpu()).mean
        first = next(r for r in runs if r.job.dataset == name and r.convergence is not None)
        figures(p, name, splits, fields[first.job.tag], first.convergence, device, out)
        mine = [r for r in runs if r.job.dataset == name]
        metrics[name] = study.summarise(p, mine, truth, first.convergence)
    return metrics


if __name__ == "__main__":
    run_stage("ode_fit", main, threads=1)  # small 1D models: one thread is fastest
