"""The 2D flow-matching study (flow2d): flow matching of an MLP velocity per recipe and seed, its
exact log-likelihood and sample distances; for the main recipe the solver sweep, a score model and
SDE samples; and the same points corrupted along each schedule's path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lib.data.toy import ToySplits, expected_log_likelihood, load_splits
from lib.flows import cnf, flow_matching, score_matching
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.stage import seeded_generator, value_key
from lib.metrics.distances import energy_distance, mean_sd, mmd_rbf
from lib.nets.mlp import MLP
from lib.params import Section
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule
from lib.sde import samplers


@dataclass(frozen=True)
class FlowJob:
    """One flow-matching model: one recipe (variant), one seed; picklable for a worker process."""

    params: Section  # the flow2d section
    variant: str
    seed: int


@dataclass(frozen=True)
class ScoreRun:
    loss: list[float]
    sde: dict  # value_key("sigma", sigma) -> {"sigma", "mmd", "energy"} of SDE samples
    state: dict[str, torch.Tensor]  # the noise predictor's weights


@dataclass(frozen=True)
class FlowRun:
    job: FlowJob
    loss: list[float]
    fm_seconds: float
    finetune_seconds: float | None
    log_likelihood: float  # mean over the first eval.n_test test points (rk4)
    mmd: float  # samples vs the test set
    energy: float
    state: dict[str, torch.Tensor]  # the velocity's weights, on the CPU
    sweep: dict[str, list[float]] | None = None  # main variant: MMD per method and step count
    score: ScoreRun | None = None  # main variant: score model and SDE samples


@dataclass(frozen=True)
class Corruption:
    rows: dict[str, list[np.ndarray]]  # schedule -> x_t (n_points, 2) at each corruption time
    structure_left: dict  # schedule -> t -> the standardized x_t's energy distance to noise / z's


@dataclass(frozen=True)
class MainFigures:
    """Arrays behind the main variant's figures (n_plot test points and noise draws)."""

    true_x: list[np.ndarray]  # on the conditional path at each corruption time
    generated: list[np.ndarray]  # the ODE's states at those times, from other noise
    trajectory: np.ndarray  # (plot_n_steps + 1, n_plot, 2)
    sde: dict[float, np.ndarray]  # sigma -> SDE samples from the same noise


def network(n: Section, device, state: dict | None = None) -> MLP:
    """The 2D MLP of params `n` (velocity or noise model), with `state` loaded if given."""
    net = MLP(2, 2, n.hidden, n.activation, n.n_freq).to(device)
    if state is not None:
        net.load_state_dict(state)
    return net


def splits(name: str, device) -> ToySplits:
    return load_splits(layout.toy_data(2, name), device)


def distances(x: torch.Tensor, ref: torch.Tensor) -> dict:
    return {"mmd": mmd_rbf(x, ref), "energy": energy_distance(x, ref)}


def jobs(p: Section) -> list[FlowJob]:
    return [FlowJob(p, name, s) for name, v in p.variants.items() for s in v.seeds or p.seeds]


def cost(job: FlowJob) -> float:
    """Examples seen in training, the score model's included (the main variant fits one): the
    pool starts the longest jobs first."""
    p, v = job.params, job.params.variants[job.variant]
    score = p.score.n_iters * p.score.batch_size if job.variant == p.main_variant else 0
    return v.n_iters * v.batch_size + score


def run_job(job: FlowJob) -> FlowRun:
    """Train, fine-tune, score; the main variant also gets the steps sweep and a score model for
    SDE sampling (module-level: a worker's entry point)."""
    p, variant, seed = job.params, job.variant, job.seed
    device = get_device()
    v, e = p.variants[variant], p.eval
    data = splits(p.dataset, device)
    test = data.test[: e.n_test]
    path = GaussianPath(make_schedule(v.schedule))
    torch.manual_seed(seed)
    net = network(p.network, device)
    gen = seeded_generator(seed, device)
    fm = flow_matching.fit(
        net,
        path,
        data.train,
        n_iters=v.n_iters,
        batch_size=v.batch_size,
        lr=v.lr,
        generator=gen,
        coupling=v.coupling,
        lr_schedule=v.lr_schedule,
        ema_decay=v.ema_decay,
        progress=False,
    )
    finetune_seconds = None
    if v.finetune is not None:
        f = v.finetune
        ft = cnf.fit(
            net,
            data.train,
            data.val[: e.n_test],
            n_iters=f.n_iters,
            batch_size=f.batch_size,
            lr=f.lr,
            n_steps=f.n_steps,
            method="rk4",
            eval_every=f.eval_every,
            eval_n_steps=f.val_n_steps,
            validate_start=True,
            generator=torch.Generator().manual_seed(seed),
            progress=False,
        )
        finetune_seconds = ft.seconds
    log_likelihood = cnf.log_prob(net, test, e.ll_n_steps, "rk4").double().mean().item()
    x0 = torch.randn(e.n_samples, 2, generator=gen, device=device)
    x1 = samplers.ode_sample(net, x0, e.sample_n_steps, e.sample_method)
    d = distances(x1, data.test[: e.n_samples])
    sweep = score = None
    if variant == p.main_variant:
        sweep = {
            m: [mmd_rbf(samplers.ode_sample(net, x0, n, m), test) for n in e.sweep_n_steps]
            for m in e.sweep_methods
        }
        score = score_run(p, path, net, data, x0, gen)
    return FlowRun(
        job=job,
        loss=fm.train_loss,
        fm_seconds=fm.seconds,
        finetune_seconds=finetune_seconds,
        log_likelihood=log_likelihood,
        mmd=d["mmd"],
        energy=d["energy"],
        state={k: t.cpu() for k, t in net.state_dict().items()},
        sweep=sweep,
        score=score,
    )


def score_run(p: Section, path, velocity, data: ToySplits, x0, gen) -> ScoreRun:
    """A noise-predicting score model, and SDE samples dX = [u + sigma^2 s / 2] dt + sigma dW."""
    s = p.score
    net = network(p.network, x0.device)
    fit = score_matching.fit(
        net,
        path,
        data.train,
        n_iters=s.n_iters,
        batch_size=s.batch_size,
        lr=s.lr,
        generator=gen,
        loss=s.loss,
        progress=False,
    )
    score = score_matching.score_fn(net, path)
    ref = data.test[: len(x0)]
    sde = {}
    for sigma in s.sigmas:
        x = samplers.sde_sample(velocity, score, sigma, x0, s.n_steps, gen)
        sde[value_key("sigma", sigma)] = {"sigma": sigma, **distances(x, ref)}
    return ScoreRun(loss=fit.train_loss, sde=sde, state=net.state_dict())


def _standardized(x: torch.Tensor) -> torch.Tensor:
    """(n, d) points shifted to mean 0 and scaled to unit root-mean-square per coordinate."""
    centred = x - x.mean(dim=0)
    return centred / centred.pow(2).mean().sqrt()


def corruption(p: Section, device) -> Corruption:
    """The same training points corrupted along each schedule's path at the chosen times, and the
    structure left at each (`corrupt`)."""
    c = p.corruption
    gen = seeded_generator(p.seeds[0], device)
    z = splits(p.dataset, device).train[: c.n_points]
    eps, noise = torch.randn((2, *z.shape), generator=gen, device=device)
    return corrupt(z, eps, noise, c.schedules, c.times)


def corrupt(z, eps, noise, schedules: list[str], times: list[float]) -> Corruption:
    """x_t = alpha_t z + sigma_t eps under each named schedule at `times`, and the structure left:
    the energy distance of the standardized x_t (mean 0, unit rms per coordinate) to the noise
    sample, over that of the standardized data (0 at t = 0 up to the sample's noise, 1 at t = 1).
    Standardizing removes x_t's overall scale, which differs between schedules
    (alpha_t^2 Var z + sigma_t^2), so the measure compares schedules at the same t: two schedules
    with the same alpha_t / sigma_t at t score the same."""
    scale = energy_distance(_standardized(z), noise)
    rows, left = {}, {}
    for name in schedules:
        path = GaussianPath(make_schedule(name))
        xs = [path.sample(z, t, eps).x_t for t in times]
        rows[name] = [x.cpu().numpy() for x in xs]
        left[name] = {
            value_key("t", t): energy_distance(_standardized(x), noise) / scale
            for t, x in zip(times, xs)
        }
    return Corruption(rows, left)


def summarise(
    p: Section, runs: list[FlowRun], main_net: MLP, data: ToySplits, structure_left: dict
) -> dict:
    """The flow2d metrics: the main variant's log-likelihood against the truth and its sample
    distances against the held-out floor, every variant, the solver sweep, the SDE per sigma."""
    e = p.eval
    test = data.test[: e.n_test]
    truth = expected_log_likelihood(p.dataset, test.cpu()).mean
    floor = distances(data.val[: e.n_samples], data.test[: e.n_samples])
    variants = {}
    for name in p.variants:
        rs = [r for r in runs if r.job.variant == name]
        ll = mean_sd([r.log_likelihood for r in rs])
        variants[name] = {
            "log_likelihood": ll,
            "gap": ll["mean"] - truth,
            "mmd": mean_sd([r.mmd for r in rs]),
            "energy": mean_sd([r.energy for r in rs]),
            "train_seconds": mean_sd([r.fm_seconds for r in rs])["mean"],
        }
    main = [r for r in runs if r.job.variant == p.main_variant]
    tight = cnf.log_prob(main_net, test, e.tight_n_steps, "rk4").double().mean().item()
    n = len(e.sweep_n_steps)
    sweep = {
        m: [mean_sd([r.sweep[m][i] for r in main])["mean"] for i in range(n)]
        for m in e.sweep_methods
    }
    sde = {
        k: {"sigma": v["sigma"], "mmd": mean_sd([r.score.sde[k]["mmd"] for r in main])}
        for k, v in main[0].score.sde.items()
    }
    headline = variants[p.main_variant]
    return {
        "dataset": p.dataset,
        "truth": truth,
        "log_likelihood": headline["log_likelihood"],
        "gap": headline["gap"],
        "ll_solver_error": abs(main[0].log_likelihood - tight),
        "mmd": headline["mmd"],
        "energy": headline["energy"],
        "floor": floor,
        "corruption": structure_left,
        "variants": variants,
        "n_steps": {
            m: {value_key("steps", n): v for n, v in zip(e.sweep_n_steps, vals)}
            for m, vals in sweep.items()
        },
        "sde": sde,
    }


def main_figures(p: Section, run: FlowRun, net: MLP, data: ToySplits, device) -> MainFigures:
    """True conditional path vs generated states, an ODE trajectory, SDE samples per sigma."""
    e = p.eval
    path = GaussianPath(make_schedule(p.variants[p.main_variant].schedule))
    gen = seeded_generator(p.seeds[0] + 1, device)
    z = data.test[: e.n_plot]
    eps = torch.randn(z.shape, generator=gen, device=device)
    x0 = torch.randn(z.shape, generator=gen, device=device)
    ode = samplers.ode_sample(net, x0, e.plot_n_steps, e.plot_method, return_path=True)
    times = p.corruption.times
    true_x = [path.sample(z, t, eps).x_t.cpu().numpy() for t in times]
    gen_x = [ode[round(t * e.plot_n_steps)].cpu().numpy() for t in times]
    score = score_matching.score_fn(network(p.network, device, run.score.state), path)
    sde = {}
    for sigma in p.score.sigmas:
        x = samplers.sde_sample(net, score, sigma, x0, p.score.n_steps, gen)
        sde[sigma] = x.cpu().numpy()
    return MainFigures(true_x, gen_x, ode.cpu().numpy(), sde)
