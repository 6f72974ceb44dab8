"""Stage complexity: measured cost of the CNF log-likelihood and its gradient vs T, and of the
simulation-free SDE ELBO, on the current device (a benchmark, so its numbers vary by machine)."""

from __future__ import annotations

import torch

from lib.flows import cnf
from lib.infra.io import write_csv
from lib.infra.stage import run_stage, seeded_generator
from lib.infra.timing import best_time, power_law_exponent
from lib.nets.mlp import MLP
from lib.plots import complexity as complexity_plots
from lib.sde.elbo import SDEConfig, SDEModel, elbo


def main(p, device, out):
    torch.manual_seed(p.seed)
    field = MLP(1, 1, p.hidden, "tanh").to(device)
    sde = SDEModel(SDEConfig(hidden=tuple(p.hidden))).to(device)
    y = torch.randn(p.batch_size, 1, generator=seeded_generator(p.seed, device), device=device)

    def likelihood(T, method):
        return lambda: cnf.log_prob(field, y, T, method)

    def gradient(T, method):
        return lambda: cnf.log_prob(field, y, T, method, create_graph=True).mean().backward()

    rows = {"T": [], "method": [], "log_prob_s": [], "gradient_s": []}
    for method in p.methods:
        for T in p.n_steps:
            rows["T"].append(T)
            rows["method"].append(method)
            rows["log_prob_s"].append(best_time(likelihood(T, method), p.repeats, device))
            rows["gradient_s"].append(best_time(gradient(T, method), p.repeats, device))
    gen = seeded_generator(p.seed + 1, device)
    elbo_s = best_time(lambda: elbo(sde, y, 1, gen).mean(), p.repeats, device)
    elbo_grad_s = best_time(lambda: elbo(sde, y, 1, gen).mean().backward(), p.repeats, device)
    eval_elbo_s = best_time(lambda: elbo(sde, y, p.elbo_eval_draws, gen).mean(), p.repeats, device)
    write_csv(out / "plots" / "cost_vs_steps.csv", rows)
    complexity_plots.cost_vs_steps(rows, elbo_s, elbo_grad_s, out / "figures" / "cost_vs_steps.pdf")

    per_method = {}
    for method in p.methods:
        idx = [i for i, m in enumerate(rows["method"]) if m == method]
        T = [rows["T"][i] for i in idx]
        per_method[method] = {
            "log_prob_exponent": power_law_exponent(T, [rows["log_prob_s"][i] for i in idx]),
            "gradient_exponent": power_law_exponent(T, [rows["gradient_s"][i] for i in idx]),
            "log_prob_s_at_max_T": rows["log_prob_s"][idx[-1]],
            "gradient_s_at_max_T": rows["gradient_s"][idx[-1]],
        }
    return {
        "batch_size": p.batch_size,
        "max_T": max(p.n_steps),
        "cnf": per_method,
        "sde_elbo": {
            "elbo_s": elbo_s,
            "gradient_s": elbo_grad_s,
            "eval_draws": p.elbo_eval_draws,
            "eval_elbo_s": eval_elbo_s,
        },
    }


if __name__ == "__main__":
    run_stage("complexity", main, threads=1)  # small 1D models: one thread is fastest
