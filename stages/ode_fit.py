"""Stage ode_fit: 1D continuous normalizing flows fitted by exact maximum likelihood."""

from __future__ import annotations

from pathlib import Path

import torch

from lib import cnf, plots
from lib.data import expected_log_likelihood, load_splits, make_density
from lib.metrics import mean_sd
from lib.nets import MLP
from lib.stage import run_stage, save_fit, seeded_generator

MODELS = Path("models") / "ode_fit"


def fit_one(p, net, splits, seed, device):
    """Train one drift network on one dataset with one seed; returns (field, FitResult)."""
    torch.manual_seed(seed)
    field = MLP(1, 1, net.hidden, net.activation, net.n_freq).to(device)
    t = p.train
    result = cnf.fit(
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
    )
    return field, result


def main(p, device, out):
    metrics = {}
    for name in p.datasets:
        splits = load_splits(Path("data") / "one_d" / f"{name}.npz", device)
        truth = expected_log_likelihood(name, splits.test.cpu()).mean
        per_net, integrators, objective_sd = {}, {m: [] for m in p.eval.methods}, []
        for net_name, net in p.networks.items():
            test_ll, seconds = [], []
            for seed in p.seeds if net_name == p.main_network else p.variant_seeds:
                field, res = fit_one(p, net, splits, seed, device)
                tag = f"{name}_{net_name}_seed{seed}"
                save_fit(
                    out,
                    MODELS / f"{tag}.pt",
                    field,
                    res.train_loss,
                    res.val_iters,
                    "val_log_likelihood",
                    res.val_log_lik,
                )
                test_ll.append(
                    cnf.log_prob(field, splits.test, p.eval.n_steps, "rk4").mean().item()
                )
                seconds.append(res.seconds)
                if net_name != p.main_network:
                    continue
                for m in p.eval.methods:
                    integrators[m].append(
                        cnf.log_prob(field, splits.test, p.eval.n_steps, m).mean().item()
                    )
                objective_sd.append(
                    cnf.objective_sd(
                        field,
                        splits.train,
                        p.train.batch_size,
                        p.eval.n_objective_batches,
                        p.train.n_steps,
                        p.train.method,
                        torch.Generator().manual_seed(seed),
                    )
                )
                if seed == p.seeds[0]:
                    main_field = field
            ll = mean_sd(test_ll)
            per_net[net_name] = {
                "test_log_likelihood": ll,
                "gap": ll["mean"] - truth,
                "train_seconds": mean_sd(seconds)["mean"],
            }

        convergence = cnf.integrator_convergence(
            main_field,
            splits.test,
            p.eval.methods,
            sorted({*p.eval.convergence_n_steps, p.eval.n_steps}),
            p.eval.tight_n_steps,
        )
        gen = seeded_generator(p.seeds[0], device)
        plots.density_fit_1d(
            name,
            splits.train.cpu(),
            make_density(name),
            lambda y, f=main_field: cnf.log_prob(f, y.to(device), p.eval.n_steps, "rk4").cpu(),
            out / "figures" / f"density_{name}.png",
        )
        paths = cnf.sample(main_field, 40, 1, 100, "rk4", gen, device, return_path=True)
        plots.sample_paths_1d(
            paths.cpu(), f"CNF trajectories, {name}", out / "figures" / f"paths_{name}.png"
        )
        plots.integrator_convergence(convergence, name, out / "figures" / f"integrators_{name}.png")

        main = per_net[p.main_network]["test_log_likelihood"]
        metrics[name] = {
            "truth": truth,
            "test_log_likelihood": main,
            "gap": main["mean"] - truth,
            "networks": per_net,
            "integrators": {m: mean_sd(v) for m, v in integrators.items()},
            "eval_error_vs_tight": convergence["errors"]["rk4"][
                convergence["n_steps"].index(p.eval.n_steps)
            ]
            if "rk4" in p.eval.methods
            else None,
            "objective_sd": mean_sd(objective_sd)["mean"],
        }
    return metrics


if __name__ == "__main__":
    run_stage("ode_fit", main, threads=1)  # small 1D models: one thread is fastest
