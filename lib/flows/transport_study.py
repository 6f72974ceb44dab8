"""Data-to-data flows on 2D toy data: flow matching with the source x_0 drawn from a second data
set (independent or minibatch-OT pairs), scored by MMD to the target against Euler steps and by
the straightness of the learned paths. One job per pair, coupling and seed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lib.data.toy import load_splits
from lib.flows import flow_matching
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.stage import seeded_generator, value_key
from lib.metrics.distances import mean_sd, mmd_rbf
from lib.metrics.sample_quality import Estimate
from lib.metrics.yardstick import verdict
from lib.nets.mlp import MLP
from lib.params import Section
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule
from lib.sde import samplers


@dataclass(frozen=True)
class TransportJob:
    """One flow source -> target with one coupling and seed; picklable for a worker process."""

    params: Section  # the transport section
    source: str
    target: str
    coupling: str
    seed: int


@dataclass(frozen=True)
class TransportRun:
    job: TransportJob
    loss: list[float]
    mmd: list[float]  # to the target's test set, per Euler step count of params.sweep_n_steps
    straightness: float
    straightness_points: torch.Tensor  # (n_samples,) per test source point, on the CPU
    path: torch.Tensor  # (n_steps + 1, n_plot, 2) Euler trajectories, on the CPU


@dataclass(frozen=True)
class PairSummary:
    """Every coupling of one pair: its metrics, MMD curves, floor and trajectories to plot."""

    source: str
    target: str
    metrics: dict  # per coupling {mmd per step count, straightness}; floor_mmd
    mmd: dict[str, list[float]]  # coupling -> MMD per step count (mean over seeds)
    floor_mmd: float  # target validation vs test: the MMD of a perfect flow
    paths: dict[str, np.ndarray]  # coupling -> trajectories of its first seed

    @property
    def key(self) -> str:
        return f"{self.source}_to_{self.target}"


def jobs(p: Section) -> list[TransportJob]:
    return [TransportJob(p, a, b, c, s) for a, b in p.pairs for c in p.couplings for s in p.seeds]


def run_job(job: TransportJob) -> TransportRun:
    """Fit the flow, then MMD after each number of Euler steps and straightness (module-level: a
    worker's entry point)."""
    p, device = job.params, get_device()
    src = load_splits(layout.toy_data(2, job.source), device)
    tgt = load_splits(layout.toy_data(2, job.target), device)
    path = GaussianPath(make_schedule(p.schedule))
    torch.manual_seed(job.seed)
    net = MLP(2, 2, p.network.hidden, p.network.activation, p.network.n_freq).to(device)
    gen = seeded_generator(job.seed, device)
    fit = flow_matching.fit(
        net,
        path,
        tgt.train,
        n_iters=p.n_iters,
        batch_size=p.batch_size,
        lr=p.lr,
        generator=gen,
        source=src.train,
        coupling=job.coupling,
        progress=False,
    )
    x0 = src.test[: p.n_samples]
    ref = tgt.test[: p.n_samples]
    fine = samplers.ode_sample(net, x0, max(p.sweep_n_steps), "euler", return_path=True)
    return TransportRun(
        job=job,
        loss=fit.train_loss,
        mmd=[mmd_rbf(samplers.ode_sample(net, x0, n, "euler"), ref) for n in p.sweep_n_steps],
        straightness=samplers.straightness(fine).item(),
        straightness_points=samplers.straightness_per_point(fine).cpu(),
        path=fine[:, : p.n_plot].cpu(),
    )


def paired_difference(a: list[TransportRun], b: list[TransportRun], level: float = 0.95) -> dict:
    """Straightness of a minus b over the same test source points (first seed of each): the mean
    of the per-point differences with its standard error and t interval, and "lower" / "higher"
    when the interval excludes 0, else "not resolved". Pairing by point removes the spread of
    the points themselves; the seeds' spread is not in it."""
    d = (a[0].straightness_points - b[0].straightness_points).double()
    n = len(d)
    estimate = Estimate(d.mean().item(), d.std().item() / math.sqrt(n), n - 1)
    return {**estimate.to_dict(level), "n_points": n, "verdict": verdict(estimate, level)}


def summarise(p: Section, runs: list[TransportRun], device) -> list[PairSummary]:
    """Per pair and coupling: MMD to the target vs Euler steps (mean over seeds), straightness."""
    pairs = []
    for source, target in p.pairs:
        metrics, mmd, paths = {}, {}, {}
        own = [r for r in runs if (r.job.source, r.job.target) == (source, target)]
        for coupling in p.couplings:
            rs = [r for r in own if r.job.coupling == coupling]
            mmd[coupling] = [
                mean_sd([r.mmd[i] for r in rs])["mean"] for i in range(len(p.sweep_n_steps))
            ]
            metrics[coupling] = {
                "mmd": {value_key("steps", n): v for n, v in zip(p.sweep_n_steps, mmd[coupling])},
                "straightness": mean_sd([r.straightness for r in rs]),
            }
            paths[coupling] = rs[0].path.numpy()
        if {"independent", "minibatch_ot"} <= set(p.couplings):
            metrics["ot_minus_independent_straightness"] = paired_difference(
                [r for r in own if r.job.coupling == "minibatch_ot"],
                [r for r in own if r.job.coupling == "independent"],
            )
        ref = load_splits(layout.toy_data(2, target), device)
        floor = mmd_rbf(ref.val[: p.n_samples], ref.test[: p.n_samples])
        metrics["floor_mmd"] = floor
        pairs.append(PairSummary(source, target, metrics, mmd, floor, paths))
    return pairs
