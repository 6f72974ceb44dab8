"""The 1D SDE study (sde_fit): an SDE model per dataset and seed fitted by the simulation-free ELBO,
its test ELBO with the Monte Carlo error and the objective's noise; per dataset the summary over
seeds against the true density."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.data.toy import ToySplits, load_splits
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.stage import seeded_generator
from lib.metrics.distances import mean_sd
from lib.params import Section
from lib.sde import elbo as sde_elbo
from lib.training.loop import TrainResult


@dataclass(frozen=True)
class FitJob:
    """One fit: one dataset, one seed; picklable for a worker process."""

    params: Section  # the sde_fit section
    dataset: str
    seed: int

    @property
    def tag(self) -> str:
        return f"{self.dataset}_seed{self.seed}"


@dataclass(frozen=True)
class FitRun:
    job: FitJob
    state: dict[str, torch.Tensor]  # the model's weights, on the CPU
    fit: TrainResult
    elbo: float  # mean test ELBO (eval.n_samples draws per point)
    stderr: float  # its Monte Carlo standard error
    objective_sd: float  # sd of the training objective over batches
    beta_lik: float


def splits(name: str, device) -> ToySplits:
    return load_splits(layout.toy_data(1, name), device)


def model(m: Section, device, state: dict | None = None) -> sde_elbo.SDEModel:
    """The SDE model of params `m`, with `state` loaded if given."""
    config = sde_elbo.SDEConfig(
        tuple(m.hidden),
        m.activation,
        m.n_freq,
        m.sigma_mode,
        m.sigma_value,
        m.beta_lik_mode,
        m.beta_lik_value,
    )
    net = sde_elbo.SDEModel(config).to(device)
    if state is not None:
        net.load_state_dict(state)
    return net


def jobs(p: Section) -> list[FitJob]:
    return [FitJob(p, name, seed) for name in p.datasets for seed in p.seeds]


def run_job(job: FitJob) -> FitRun:
    """Fit one SDE model and score it on the test set (module-level: a worker's entry point)."""
    p, t, seed = job.params, job.params.train, job.seed
    device = get_device()
    data = splits(job.dataset, device)
    torch.manual_seed(seed)
    net = model(p.model, device)
    res = sde_elbo.fit(
        net,
        data.train,
        data.val,
        n_iters=t.n_iters,
        batch_size=t.batch_size,
        lr=t.lr,
        eval_every=t.eval_every,
        n_eval_samples=t.n_eval_samples,
        generator=seeded_generator(seed, device),
        progress=False,
    )
    gen = seeded_generator(seed + 10_000, device)
    elbo, stderr = sde_elbo.evaluate_elbo(net, data.test, p.eval.n_samples, gen)
    objective_sd = sde_elbo.objective_sd(
        net, data.train, t.batch_size, p.eval.n_objective_batches, gen
    )
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    return FitRun(job, state, res, elbo, stderr, objective_sd, net.beta_lik().item())


def summarise(runs: list[FitRun], truth: float) -> dict:
    """One dataset's metrics: the test ELBO (mean, sd over seeds), its largest Monte Carlo error
    over seeds, the gap to the truth, and means over seeds of beta_lik, the objective's noise and
    the training time."""
    elbo = mean_sd([r.elbo for r in runs])
    return {
        "truth": truth,
        "test_elbo": elbo,
        "test_elbo_stderr": max(r.stderr for r in runs),
        "gap": elbo["mean"] - truth,
        "beta_lik": mean_sd([r.beta_lik for r in runs])["mean"],
        "objective_sd": mean_sd([r.objective_sd for r in runs])["mean"],
        "train_seconds": mean_sd([r.fit.seconds for r in runs])["mean"],
    }
