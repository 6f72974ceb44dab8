"""Stage sde_fit: 1D SDE models fitted by the simulation-free ELBO (Gaussian posterior process)."""

from __future__ import annotations

from pathlib import Path

import torch

from lib import plots, sde_elbo
from lib.data import expected_log_likelihood, load_splits, make_density
from lib.metrics import mean_sd
from lib.stage import run_stage, save_fit, seeded_generator

MODELS = Path("models") / "sde_fit"


def fit_one(p, splits, seed, device):
    torch.manual_seed(seed)
    m = p.model
    config = sde_elbo.SDEConfig(
        tuple(m.hidden),
        m.activation,
        m.n_freq,
        m.sigma_mode,
        m.sigma_value,
        m.beta_lik_mode,
        m.beta_lik_value,
    )
    model = sde_elbo.SDEModel(config).to(device)
    t = p.train
    result = sde_elbo.fit(
        model,
        splits.train,
        splits.val,
        n_iters=t.n_iters,
        batch_size=t.batch_size,
        lr=t.lr,
        eval_every=t.eval_every,
        n_eval_samples=t.n_eval_samples,
        generator=seeded_generator(seed, device),
    )
    return model, result


def main(p, device, out):
    metrics = {}
    for name in p.datasets:
        splits = load_splits(Path("data") / "one_d" / f"{name}.npz", device)
        truth = expected_log_likelihood(name, splits.test.cpu()).mean
        elbos, stderrs, seconds, objective_sd, beta_lik = [], [], [], [], []
        for seed in p.seeds:
            model, res = fit_one(p, splits, seed, device)
            tag = f"{name}_seed{seed}"
            save_fit(
                out,
                MODELS / f"{tag}.pt",
                model,
                res.train_loss,
                res.val_iters,
                "val_elbo",
                res.val_elbo,
            )
            gen = seeded_generator(seed + 10_000, device)
            value, stderr = sde_elbo.evaluate_elbo(model, splits.test, p.eval.n_samples, gen)
            elbos.append(value)
            stderrs.append(stderr)
            seconds.append(res.seconds)
            beta_lik.append(model.beta_lik().item())
            objective_sd.append(
                sde_elbo.objective_sd(
                    model, splits.train, p.train.batch_size, p.eval.n_objective_batches, gen
                )
            )
            if seed == p.seeds[0]:
                main_model = model

        gen = seeded_generator(p.seeds[0], device)
        plots.density_fit_1d(
            name,
            splits.train.cpu(),
            make_density(name),
            lambda y, m=main_model, g=gen: sde_elbo.log_density(
                m, y.to(device), p.eval.n_density_samples, p.eval.n_sde_steps, g
            ).cpu(),
            out / "figures" / f"density_{name}.png",
        )
        paths = sde_elbo.sample_paths(main_model, 40, p.eval.n_sde_steps, gen)
        plots.sample_paths_1d(
            paths.cpu(), f"SDE sample paths, {name}", out / "figures" / f"paths_{name}.png"
        )

        elbo = mean_sd(elbos)
        metrics[name] = {
            "truth": truth,
            "test_elbo": elbo,
            "test_elbo_stderr": max(stderrs),  # Monte Carlo error of each seed's estimate
            "gap": elbo["mean"] - truth,
            "beta_lik": mean_sd(beta_lik)["mean"],
            "objective_sd": mean_sd(objective_sd)["mean"],
            "train_seconds": mean_sd(seconds)["mean"],
        }
    return metrics


if __name__ == "__main__":
    run_stage("sde_fit", main, threads=1)  # small 1D models: one thread is fastest
