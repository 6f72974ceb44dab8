"""Stage sde_fit: 1D SDE models fitted by the simulation-free ELBO (Gaussian posterior process)."""

from __future__ import annotations

import torch

from lib.data.toy import expected_log_likelihood, load_splits, make_density
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage, save_fit, seeded_generator
from lib.metrics.distances import mean_sd
from lib.plots import fits_1d as fits_1d_plots
from lib.sde import elbo as sde_elbo

MODELS = layout.MODELS / "sde_fit"


def build(m, device) -> sde_elbo.SDEModel:
    config = sde_elbo.SDEConfig(
        tuple(m.hidden),
        m.activation,
        m.n_freq,
        m.sigma_mode,
        m.sigma_value,
        m.beta_lik_mode,
        m.beta_lik_value,
    )
    return sde_elbo.SDEModel(config).to(device)


def fit_job(job: tuple) -> dict:
    """Fit one SDE model on one dataset with one seed and score it on the test set."""
    p, name, seed = job
    device = get_device()
    splits = load_splits(layout.toy_data(1, name), device)
    torch.manual_seed(seed)
    model, t = build(p.model, device), p.train
    res = sde_elbo.fit(
        model,
        splits.train,
        splits.val,
        n_iters=t.n_iters,
        batch_size=t.batch_size,
        lr=t.lr,
        eval_every=t.eval_every,
        n_eval_samples=t.n_eval_samples,
        generator=seeded_generator(seed, device),
        progress=False,
    )
    gen = seeded_generator(seed + 10_000, device)
    elbo, stderr = sde_elbo.evaluate_elbo(model, splits.test, p.eval.n_samples, gen)
    objective_sd = sde_elbo.objective_sd(
        model, splits.train, t.batch_size, p.eval.n_objective_batches, gen
    )
    return {
        "job": (name, seed),
        "state": {k: v.cpu() for k, v in model.state_dict().items()},
        "fit": res,
        "elbo": elbo,
        "stderr": stderr,
        "obj_sd": objective_sd,
        "beta_lik": model.beta_lik().item(),
    }


def figures(p, name, splits, model, device, out) -> None:
    """Density (Monte Carlo, simulated) and sample paths of the first seed's model."""
    gen = seeded_generator(p.seeds[0], device)
    fits_1d_plots.density_fit_1d(
        name,
        splits.train.cpu(),
        make_density(name),
        lambda y: sde_elbo.log_density(
            model, y.to(device), p.eval.n_density_samples, p.eval.n_sde_steps, gen
        ).cpu(),
        out / "figures" / f"density_{name}.png",
    )
    paths = sde_elbo.sample_paths(model, 40, p.eval.n_sde_steps, gen)
    fits_1d_plots.sample_paths_1d(
        paths.cpu(), f"SDE sample paths, {name}", out / "figures" / f"paths_{name}.png"
    )


def main(p, device, out):
    results = map_jobs(
        fit_job, [(p, name, seed) for name in p.datasets for seed in p.seeds], device
    )
    for r in results:
        name, seed = r["job"]
        r["model"] = model = build(p.model, device)
        model.load_state_dict(r["state"])
        fit = r["fit"]
        save_fit(
            out,
            MODELS / f"{name}_seed{seed}.pt",
            model,
            fit.train_loss,
            fit.val_iters,
            "val_elbo",
            fit.val_elbo,
        )

    metrics = {}
    for name in p.datasets:
        splits = load_splits(layout.toy_data(1, name), device)
        truth = expected_log_likelihood(name, splits.test.cpu()).mean
        runs = [r for r in results if r["job"][0] == name]
        figures(p, name, splits, runs[0]["model"], device, out)
        elbo = mean_sd([r["elbo"] for r in runs])
        metrics[name] = {
            "truth": truth,
            "test_elbo": elbo,
            "test_elbo_stderr": max(r["stderr"] for r in runs),  # MC error of each seed's value
            "gap": elbo["mean"] - truth,
            "beta_lik": mean_sd([r["beta_lik"] for r in runs])["mean"],
            "objective_sd": mean_sd([r["obj_sd"] for r in runs])["mean"],
            "train_seconds": mean_sd([r["fit"].seconds for r in runs])["mean"],
        }
    return metrics


if __name__ == "__main__":
    run_stage("sde_fit", main, threads=1)  # small 1D models: one thread is fastest
