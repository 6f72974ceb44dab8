"""Stage ode_fit: 1D continuous normalizing flows fitted by exact maximum likelihood."""

from __future__ import annotations

import torch

from lib.data.toy import expected_log_likelihood, load_splits, make_density
from lib.flows import cnf
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage, save_fit, seeded_generator
from lib.metrics.distances import mean_sd
from lib.nets.mlp import MLP
from lib.plots import fits_1d as fits_1d_plots

MODELS = layout.MODELS / "ode_fit"


def build(net, train: torch.Tensor) -> torch.nn.Module:
    """The drift network, standardized by the training data's moments if asked."""
    mlp = MLP(1, 1, net.hidden, net.activation, net.n_freq).to(train.device)
    return cnf.StandardizedField.from_data(mlp, train) if net.standardize else mlp


def fit_job(job: tuple) -> dict:
    """Fit one drift network on one dataset with one seed and score it on the test set."""
    p, name, net_name, seed = job
    device = get_device()
    splits = load_splits(layout.toy_data(1, name), device)
    torch.manual_seed(seed)
    field, t = build(p.networks[net_name], splits.train), p.train
    res = cnf.fit(
        field,
        splits.train,
        splits.val,
        n_iters=t.n_iters,
        batch_size=t.batch_size,
        lr=t.lr,
        n_steps=t.n_steps,
        method=t.method,
        eval_every=t.eval_every,
        eval_n_steps=t.val_n_steps,
        eval_method="rk4",
        kinetic_weight=t.kinetic_weight,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
    )
    methods = p.eval.methods if net_name == p.main_network else ["rk4"]
    test_ll = {
        m: cnf.log_prob(field, splits.test, p.eval.n_steps, m).mean().item() for m in methods
    }
    objective_sd = cnf.objective_sd(
        field,
        splits.train,
        t.batch_size,
        p.eval.n_objective_batches,
        t.n_steps,
        t.method,
        torch.Generator().manual_seed(seed),
    )
    state = {k: v.cpu() for k, v in field.state_dict().items()}
    return {"job": job[1:], "state": state, "fit": res, "test_ll": test_ll, "obj_sd": objective_sd}


def figures(p, name, splits, field, device, out) -> dict:
    """Density, trajectories and integrator convergence of the main network's first seed."""
    convergence = cnf.integrator_convergence(
        field,
        splits.test,
        p.eval.methods,
        sorted({*p.eval.convergence_n_steps, p.eval.n_steps}),
        p.eval.tight_n_steps,
    )
    fits_1d_plots.density_fit_1d(
        name,
        splits.train.cpu(),
        make_density(name),
        lambda y: cnf.log_prob(field, y.to(device), p.eval.n_steps, "rk4").cpu(),
        out / "figures" / f"density_{name}.png",
    )
    gen = seeded_generator(p.seeds[0], device)
    paths = cnf.sample(field, 40, 1, 100, "rk4", gen, device, return_path=True)
    fits_1d_plots.sample_paths_1d(
        paths.cpu(), f"CNF trajectories, {name}", out / "figures" / f"paths_{name}.png"
    )
    fits_1d_plots.integrator_convergence(
        convergence, name, out / "figures" / f"integrators_{name}.png"
    )
    return convergence


def main(p, device, out):
    jobs = [
        (p, name, net, seed)
        for name in p.datasets
        for net in p.networks
        for seed in (p.seeds if net == p.main_network else p.variant_seeds)
    ]
    results = map_jobs(fit_job, jobs, device)
    data = {
        name: load_splits(layout.toy_data(1, name), device) for name in p.datasets
    }
    for r in results:
        name, net, seed = r["job"]
        field = build(p.networks[net], data[name].train)
        field.load_state_dict(r["state"])
        r["field"] = field
        fit = r["fit"]
        save_fit(
            out,
            MODELS / f"{name}_{net}_seed{seed}.pt",
            field,
            fit.train_loss,
            fit.val_iters,
            "val_log_likelihood",
            fit.val_log_lik,
        )

    metrics = {}
    for name in p.datasets:
        splits = data[name]
        truth = expected_log_likelihood(name, splits.test.cpu()).mean
        mine = [r for r in results if r["job"][0] == name]
        main = [r for r in mine if r["job"][1] == p.main_network]
        per_net = {}
        for net in p.networks:
            runs = [r for r in mine if r["job"][1] == net]
            ll = mean_sd([r["test_ll"]["rk4"] for r in runs])
            seconds = mean_sd([r["fit"].seconds for r in runs])["mean"]
            per_net[net] = {
                "test_log_likelihood": ll,
                "gap": ll["mean"] - truth,
                "train_seconds": seconds,
            }
        convergence = figures(p, name, splits, main[0]["field"], device, out)
        ll = per_net[p.main_network]["test_log_likelihood"]
        at_eval = convergence["n_steps"].index(p.eval.n_steps)
        metrics[name] = {
            "truth": truth,
            "test_log_likelihood": ll,
            "gap": ll["mean"] - truth,
            "networks": per_net,
            "integrators": {m: mean_sd([r["test_ll"][m] for r in main]) for m in p.eval.methods},
            "eval_error_vs_tight": convergence["errors"]["rk4"][at_eval]
            if "rk4" in p.eval.methods
            else None,
            "objective_sd": mean_sd([r["obj_sd"] for r in main])["mean"],
        }
    return metrics


if __name__ == "__main__":
    run_stage("ode_fit", main, threads=1)  # small 1D models: one thread is fastest
