"""The sampler grid of one image model pair (velocity and noise UNets of one schedule): every
sampler from the same starting noise, returning quantized images ready to be scored.

Runs: the same-noise "exact" solution of the flow ODE (an adaptive high-order solve at a tight
tolerance, `lib.adaptive_solver`), fixed-step ODE samplers over a grid of step counts, and the
Euler–Maruyama SDE dX = [u + g_t^2 s / 2] dt + g_t dW (g_t = sigma, or sigma times the path's
noise scale sigma_t) for several sigma and, at one sigma, several step counts. The ODE runs also
record their per-pixel RMSE to the exact solution: the solver's own error, free of any
sample-quality metric.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lib.flows import score_matching
from lib.flows.likelihood import dequantize, quantize
from lib.images import classifier
from lib.infra import layout
from lib.infra.distributed import current_world, map_batches
from lib.infra.stage import seeded_generator, value_key
from lib.nets.unet import load_unet
from lib.params import Section
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule
from lib.sde import samplers
from lib.sde.adaptive_solver import solve_adaptive


@dataclass(frozen=True)
class Run:
    """One sampler run of n images from the shared noise."""

    schedule: str
    sampler: str  # "exact" (adaptive ODE solve), an ODE method, or "sde"
    nfe: int  # function evaluations per image (velocity and score evaluations both count)
    images: np.ndarray  # (n, C, H, W) uint8, quantized to the data's levels
    seconds: float
    n_steps: int | None = None  # None for the adaptive solve
    sigma: float | None = None  # the SDE's sigma
    rmse_to_exact: float | None = None  # ODE runs: per pixel, model scale [-1, 1]

    @property
    def key(self) -> str:
        """A metrics key without dots: exact, euler_nfe_10, sde_sigma_0p5_nfe_100."""
        if self.sampler == "exact":
            return "exact"
        if self.sampler == "sde":
            return f"sde_{value_key('sigma', self.sigma)}_nfe_{self.nfe}"
        return f"{self.sampler}_nfe_{self.nfe}"

    @property
    def label(self) -> str:
        if self.sampler == "exact":
            return f"exact ODE ({self.nfe} NFE)"
        if self.sampler == "sde":
            return f"SDE sigma = {self.sigma:g}, NFE {self.nfe}"
        return f"{self.sampler}, NFE {self.nfe}"


@dataclass(frozen=True)
class GridJob:
    """Everything one schedule's sampler grid needs; picklable for a worker process."""

    schedule: str
    velocity_file: Path
    noise_file: Path
    x0: torch.Tensor  # (n, C, H, W) starting noise, shared by every run and schedule
    n_levels: int
    batch_size: int  # images integrated at once (a few hundred run faster on a CPU than all)
    seed: int
    device: str
    exact: dict  # {"method", "rtol", "atol"} of the adaptive solve
    ode: dict[str, list[int]]  # method -> step counts
    sde_sigmas: list[float] = field(default_factory=list)
    sde_n_steps: int = 100
    sde_diffusion: str = "scaled"
    sweep_sigma: float | None = None  # the sigma of the SDE's step-count sweep (None: no sweep)
    sweep_n_steps: list[int] = field(default_factory=list)


def run_grid(job: GridJob) -> list[Run]:
    """All runs of one schedule, exact solution first (module-level: a worker's entry point).
    Every run integrates the same batches of x0; the exact solve's step sizes are chosen per
    batch, and its NFE is the mean per image. Under data parallelism (`lib.infra.distributed`)
    the batches are shared out over the ranks and every rank ends with every run, the same runs
    whatever the number of ranks: each SDE batch draws from its own seeded stream."""
    device = torch.device(job.device)
    world = current_world()
    flow, _ = load_unet(job.velocity_file, device)
    path = GaussianPath(make_schedule(job.schedule))
    batches = job.x0.to(device).split(job.batch_size)

    def finish(z: torch.Tensor, start: float, **kw) -> Run:
        images = quantize(z, job.n_levels).cpu().numpy()
        return Run(job.schedule, images=images, seconds=time.perf_counter() - start, **kw)

    def each_batch(fn) -> torch.Tensor:  # fn(i, batch i) of every batch, in batch order
        return torch.cat(map_batches(lambda i, x: fn(i, x).cpu(), batches, world)).to(device)

    start = time.perf_counter()
    solves = map_batches(
        lambda i, x: (lambda s: (s.x.cpu(), s.nfe))(solve_adaptive(flow, x, **job.exact)),
        batches,
        world,
    )
    exact = torch.cat([x for x, _ in solves]).to(device)
    nfe = round(sum(n * len(x) for x, n in solves) / len(exact))
    runs = [finish(exact, start, sampler="exact", nfe=nfe)]
    for method, steps in job.ode.items():
        for n in steps:
            start = time.perf_counter()
            z = each_batch(lambda i, x, m=method, n=n: samplers.sample(m, flow, x, n))
            rmse = (z - exact).pow(2).mean().sqrt().item()
            nfe = samplers.nfe(method, n)
            runs.append(finish(z, start, sampler=method, nfe=nfe, n_steps=n, rmse_to_exact=rmse))

    noise, _ = load_unet(job.noise_file, device)
    score = score_matching.score_fn(noise, path)
    sde_runs = [(s, job.sde_n_steps) for s in job.sde_sigmas]
    sde_runs += [(job.sweep_sigma, n) for n in job.sweep_n_steps]
    for run, (sigma, n) in enumerate(sde_runs):
        g_t = samplers.diffusion(job.sde_diffusion, sigma, path.schedule.sigma)

        def sde(i: int, x: torch.Tensor, n=n, g_t=g_t, run=run) -> torch.Tensor:
            # each run and batch its own stream: adding a run leaves the others' noise unchanged,
            # and a batch draws the same noise on whichever rank computes it
            seed = int(np.random.SeedSequence([job.seed, run, i]).generate_state(1)[0])
            gen = torch.Generator(device=device).manual_seed(seed)
            return samplers.sample("em", flow, x, n, score=score, sigma=g_t, generator=gen)

        start = time.perf_counter()
        z = each_batch(sde)
        runs.append(
            finish(z, start, sampler="sde", nfe=samplers.nfe("em", n), n_steps=n, sigma=sigma)
        )
    return runs


def check_inputs(p: Section, n_held_out: int) -> None:
    """Every model and file the sample params `p` name exists and the real images suffice, before
    any work."""
    needed = [layout.CLASSIFIER]
    for s in p.schedules:
        needed += [
            layout.model("train_flow", f"velocity_{s}"),
            layout.model("train_score", f"noise_{s}"),
        ]
    if p.transfer is not None:
        needed.append(layout.model("train_flow", "transfer"))
    missing = [str(f) for f in needed if not f.exists()]
    if missing:
        raise SystemExit(
            f"error: sample needs {missing}: add each schedule of sample.schedules = "
            f"{p.schedules} to train_flow.schedules and train_score.schedules (and keep "
            "train_flow.transfer when sample.transfer is set)"
        )
    y = p.yardstick
    n_real = n_held_out - y.n_reference
    if n_real < max(y.n_groups, y.k + 1) or n_real > p.n_images:
        raise SystemExit(
            f"error: sample.yardstick.n_reference = {y.n_reference}: of the {n_held_out} held-out "
            f"real images (validation + test) the rest, {n_real}, is the real comparison set, "
            f"which needs at least max(n_groups, k + 1) = {max(y.n_groups, y.k + 1)} and at most "
            f"sample.n_images = {p.n_images} images"
        )
    if p.inception is not None and not Path(p.inception.weights).is_file():
        raise SystemExit(
            f"error: sample.inception.weights = {p.inception.weights!r}: no such file. Nothing is "
            "downloaded: put torch-fidelity's weights-inception-2015-12-05-6726825d.pth there, or "
            "set sample.inception to null"
        )


def grid_jobs(p: Section, x0: torch.Tensor, n_levels: int, device) -> list[GridJob]:
    """One sampler grid per schedule of the sample params `p`, every one from the noise x0."""
    sweep = p.sde.sweep
    return [
        GridJob(
            schedule=s,
            velocity_file=layout.model("train_flow", f"velocity_{s}"),
            noise_file=layout.model("train_score", f"noise_{s}"),
            x0=x0,
            n_levels=n_levels,
            batch_size=p.batch_size,
            seed=p.seed,
            device=str(device),
            exact=p.exact.model_dump(),
            ode=p.ode,
            sde_sigmas=p.sde.sigmas,
            sde_n_steps=p.sde.n_steps,
            sde_diffusion=p.sde.diffusion,
            sweep_sigma=sweep.sigma if sweep else None,
            sweep_n_steps=sweep.n_steps if sweep else [],
        )
        for s in p.schedules
    ]


@dataclass(frozen=True)
class Transfer:
    metrics: dict  # classes, how often the moved images are classified as the target, NFE
    panels: dict[str, torch.Tensor]  # title -> (n_shown, C, H, W) model scale: before and after


def transfer(p: Section, data, clf: classifier.Classifier, device) -> Transfer:
    """Test images of the source class through the class-to-class flow (train_flow's transfer
    model), classified before and after."""
    model, meta = load_unet(layout.model("train_flow", "transfer"), device)
    a, b, k = meta["source_class"], meta["target_class"], data.n_levels
    src = torch.as_tensor(data.test.images[data.test.labels == a], device=device)
    z0 = dequantize(src, k, seeded_generator(p.seed, device))
    z1 = samplers.sample(p.transfer.method, model, z0, p.transfer.n_steps)
    before, moved = (classifier.to_model_scale(quantize(z, k), k, device) for z in (z0, z1))
    n = min(p.transfer.n_images, len(src))
    panels = {f"class {a} (test images)": before[:n], f"after the flow to class {b}": moved[:n]}
    with torch.no_grad():
        pred, pred_before = clf(moved).argmax(-1), clf(before).argmax(-1)
    metrics = {
        "source_class": a,
        "target_class": b,
        "n_images": len(src),
        "classified_as_target": (pred == b).double().mean().item(),
        "classified_as_source_before": (pred_before == a).double().mean().item(),
        "sampler": p.transfer.method,
        "nfe": samplers.nfe(p.transfer.method, p.transfer.n_steps),
    }
    return Transfer(metrics, panels)
