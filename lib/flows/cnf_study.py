"""The 1D CNF study (ode_fit): a drift network per dataset, network and seed fitted by exact
maximum likelihood, its test log-likelihood under each integrator and the objective's noise; per
dataset the summary over seeds against the true density and the integrators' convergence. The
seeds of one dataset and network are fitted together as one ensemble (`cnf_ensemble`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.data.toy import ToySplits, load_splits
from lib.flows import cnf
from lib.flows.cnf_ensemble import fit_together
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.phases import phase
from lib.metrics.distances import mean_sd
from lib.nets.mlp import MLP
from lib.params import Section
from lib.training.loop import TrainResult


@dataclass(frozen=True)
class FitJob:
    """One fit: one dataset, one drift network, one seed; picklable for a worker process."""

    params: Section  # the ode_fit section
    dataset: str
    network: str
    seed: int

    @property
    def tag(self) -> str:
        return f"{self.dataset}_{self.network}_seed{self.seed}"


@dataclass(frozen=True)
class FitRun:
    job: FitJob
    state: dict[str, torch.Tensor]  # the drift network's weights, on the CPU
    fit: TrainResult
    test_ll: dict[str, float]  # integrator -> mean test log-likelihood at eval.n_steps
    objective_sd: float  # sd of the training objective over batches
    convergence: dict | None = None  # `convergence`, for the main network's first seed only


def splits(name: str, device) -> ToySplits:
    return load_splits(layout.toy_data(1, name), device)


def field(net: Section, train: torch.Tensor, state: dict | None = None) -> torch.nn.Module:
    """The drift network, standardized by the training data's moments if asked, with `state`
    loaded if given."""
    mlp = MLP(1, 1, net.hidden, net.activation, net.n_freq).to(train.device)
    f = cnf.StandardizedField.from_data(mlp, train) if net.standardize else mlp
    if state is not None:
        f.load_state_dict(state)
    return f


@dataclass(frozen=True)
class FitGroup:
    """The seeds of one dataset and network, fitted together: one worker's job."""

    params: Section  # the ode_fit section
    dataset: str
    network: str
    seeds: tuple[int, ...]

    @property
    def members(self) -> list[FitJob]:
        return [FitJob(self.params, self.dataset, self.network, s) for s in self.seeds]


def jobs(p: Section) -> list[FitGroup]:
    """Every dataset x network; the main network over `seeds`, the others over `variant_seeds`."""
    return [
        FitGroup(p, name, net, tuple(p.seeds if net == p.main_network else p.variant_seeds))
        for name in p.datasets
        for net in p.networks
    ]


def cost(group: FitGroup) -> float:
    """A group's rank in the pool's longest-first order, summed over its fits: the main network
    evaluates three integrators, and its first seed also runs the integrator study."""
    p = group.params
    main = group.network == p.main_network
    return sum(1.0 + main + (main and seed == p.seeds[0]) for seed in group.seeds)


def run_job(group: FitGroup) -> list[FitRun]:
    """Fit a group's drift networks together, then score each on the test set (module-level: a
    worker's entry point). Member k starts from torch.manual_seed(seed k) and draws its batches
    from its own generator, as it would fitted alone."""
    p, t = group.params, group.params.train
    data = splits(group.dataset, get_device())
    fields = []
    for seed in group.seeds:
        torch.manual_seed(seed)
        fields.append(field(p.networks[group.network], data.train))
    results = fit_together(
        fields,
        data.train,
        data.val,
        generators=[torch.Generator().manual_seed(seed) for seed in group.seeds],
        n_iters=t.n_iters,
        batch_size=t.batch_size,
        lr=t.lr,
        n_steps=t.n_steps,
        method=t.method,
        eval_every=t.eval_every,
        eval_n_steps=t.val_n_steps,
        eval_method="rk4",
        kinetic_weight=t.kinetic_weight,
        progress=False,
    )
    return [
        evaluate(job, f, res, data)
        for job, f, res in zip(group.members, fields, results, strict=True)
    ]


def evaluate(job: FitJob, f: torch.nn.Module, res: TrainResult, data: ToySplits) -> FitRun:
    """A fitted drift network's test log-likelihoods (every integrator for the main network, with
    the integrator study for its first seed) and its objective's sd over batches."""
    p, t = job.params, job.params.train
    with phase("evaluation"):
        conv, test_ll = None, {}
        if job.network == p.main_network and job.seed == p.seeds[0]:
            # the integrator study of the reported fit, in this worker beside the other fits;
            # its grid holds eval.n_steps, so it also gives this fit's test log-likelihoods
            conv = convergence(p, f, data.test)
            at_eval = conv["n_steps"].index(p.eval.n_steps)
            test_ll = {m: v[at_eval] for m, v in conv["log_likelihood"].items()}
        methods = p.eval.methods if job.network == p.main_network else ["rk4"]
        for m in methods:
            if m not in test_ll:
                test_ll[m] = cnf.log_prob(f, data.test, p.eval.n_steps, m).double().mean().item()
        objective_sd = cnf.objective_sd(
            f,
            data.train,
            t.batch_size,
            p.eval.n_objective_batches,
            t.n_steps,
            t.method,
            torch.Generator().manual_seed(job.seed),
        )
    state = {k: v.cpu() for k, v in f.state_dict().items()}
    return FitRun(job, state, res, test_ll, objective_sd, conv)


def convergence(p: Section, f: torch.nn.Module, test: torch.Tensor) -> dict:
    """`cnf.integrator_convergence` over convergence_n_steps and eval.n_steps."""
    e = p.eval
    n_steps = sorted({*e.convergence_n_steps, e.n_steps})
    return cnf.integrator_convergence(f, test, e.methods, n_steps, e.tight_n_steps)


def summarise(p: Section, runs: list[FitRun], truth: float, conv: dict) -> dict:
    """One dataset's metrics: the main network's test log-likelihood (mean, sd over seeds) and gap
    to the truth, every network's, each integrator's, and the eval grid's error vs the tight one."""
    per_net = {}
    for net in p.networks:
        rs = [r for r in runs if r.job.network == net]
        ll = mean_sd([r.test_ll["rk4"] for r in rs])
        seconds = mean_sd([r.fit.seconds for r in rs])["mean"]
        per_net[net] = {
            "test_log_likelihood": ll,
            "gap": ll["mean"] - truth,
            "train_seconds": seconds,
        }
    main = [r for r in runs if r.job.network == p.main_network]
    ll = per_net[p.main_network]["test_log_likelihood"]
    at_eval = conv["n_steps"].index(p.eval.n_steps)
    return {
        "truth": truth,
        "test_log_likelihood": ll,
        "gap": ll["mean"] - truth,
        "networks": per_net,
        "integrators": {m: mean_sd([r.test_ll[m] for r in main]) for m in p.eval.methods},
        "eval_error_vs_tight": conv["errors"]["rk4"][at_eval] if "rk4" in p.eval.methods else None,
        "objective_sd": mean_sd([r.objective_sd for r in main])["mean"],
    }
