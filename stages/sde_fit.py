"""Stage sde_fit: 1D SDE models fitted by the simulation-free ELBO (Gaussian posterior process)."""

from __future__ import annotations

from lib.data.toy import expected_log_likelihood, make_density
from lib.infra import layout
from lib.infra.parallel import map_jobs
from lib.infra.phases import phase
from lib.infra.stage import run_stage, seeded_generator
from lib.plots import fits_1d as fits_1d_plots
from lib.sde import elbo as sde_elbo
from lib.sde import elbo_study as study
from lib.training.curves import save_fit


def figures(p, name, splits, model, device, out) -> None:
    """Density (Monte Carlo, simulated) and sample paths of the first seed's model."""
    gen = seeded_generator(p.seeds[0], device)
    fits_1d_plots.density_fit_1d(
        f"SDE density, {name}",
        splits.train.cpu(),
        make_density(name),
        lambda y: sde_elbo.log_density(
            model, y.to(device), p.eval.n_density_samples, p.eval.n_sde_steps, gen
        ).cpu(),
        out / "figures" / f"density_{name}.pdf",
    )
    paths = sde_elbo.sample_paths(model, 40, p.eval.n_sde_steps, gen)
    fits_1d_plots.sample_paths_1d(
        paths.cpu(), f"SDE sample paths, {name}", out / "figures" / f"paths_{name}.pdf"
    )


def main(p, device, out):
    runs = map_jobs(study.run_job, study.jobs(p), device)
    models = {}
    for r in runs:
        models[r.job.tag] = model = study.model(p.model, device, r.state)
        fit = r.fit
        path = layout.model("sde_fit", r.job.tag)
        save_fit(out, path, model, fit.train_loss, fit.val_iters, "elbo", fit.val_values)

    metrics = {}
    for name in p.datasets:
        splits = study.splits(name, device)
        truth = expected_log_likelihood(name, splits.test.cpu()).mean
        first = study.FitJob(p, name, p.seeds[0]).tag
        with phase("evaluation"):  # the density and paths the figures show; saving is "figures"
            figures(p, name, splits, models[first], device, out)
        metrics[name] = study.summarise([r for r in runs if r.job.dataset == name], truth)
    return metrics


if __name__ == "__main__":
    run_stage("sde_fit", main, threads=1)  # small 1D models: one thread is fastest
