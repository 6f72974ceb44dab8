"""The sampler grid of one image model pair (velocity and noise UNets of one schedule): every
sampler from the same starting noise, returning quantized images ready to be scored.

Runs: the same-noise "exact" solution of the flow ODE (an adaptive high-order solve at a tight
tolerance, `lib.adaptive_solver`), fixed-step ODE samplers over a grid of step counts, and the
Euler–Maruyama SDE dX = [u + sigma_t^2 s / 2] dt + sigma_t dW for several sigma and, at one sigma,
several step counts. The ODE runs also record their per-pixel RMSE to the exact solution: the
solver's own error, free of any sample-quality metric.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lib.flows import score_matching
from lib.flows.likelihood import quantize
from lib.infra.stage import value_key
from lib.nets.unet import load_unet
from lib.paths.gaussian import GaussianPath, make_schedule
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
    Every run integrates the same batches of x0 in turn; the exact solve's step sizes are chosen
    per batch, and its NFE is the mean per image."""
    device = torch.device(job.device)
    flow, _ = load_unet(job.velocity_file, device)
    path = GaussianPath(make_schedule(job.schedule))
    batches = job.x0.to(device).split(job.batch_size)

    def finish(z: torch.Tensor, start: float, **kw) -> Run:
        images = quantize(z, job.n_levels).cpu().numpy()
        return Run(job.schedule, images=images, seconds=time.perf_counter() - start, **kw)

    def each_batch(fn) -> torch.Tensor:
        return torch.cat([fn(x) for x in batches])

    start = time.perf_counter()
    solves = [solve_adaptive(flow, x, **job.exact) for x in batches]
    exact = torch.cat([s.x for s in solves])
    nfe = round(sum(s.nfe * len(s.x) for s in solves) / len(exact))
    runs = [finish(exact, start, sampler="exact", nfe=nfe)]
    for method, steps in job.ode.items():
        for n in steps:
            start = time.perf_counter()
            z = each_batch(lambda x, m=method, n=n: samplers.sample(m, flow, x, n))
            rmse = (z - exact).pow(2).mean().sqrt().item()
            nfe = samplers.nfe(method, n)
            runs.append(finish(z, start, sampler=method, nfe=nfe, n_steps=n, rmse_to_exact=rmse))

    noise, _ = load_unet(job.noise_file, device)
    score = score_matching.score_fn(noise, path)
    sde_runs = [(s, job.sde_n_steps) for s in job.sde_sigmas]
    sde_runs += [(job.sweep_sigma, n) for n in job.sweep_n_steps]
    for i, (sigma, n) in enumerate(sde_runs):
        # each run its own stream, so adding a run leaves the others' noise unchanged
        gen = torch.Generator(device=device).manual_seed(job.seed + 1 + i)
        sigma_t = samplers.diffusion(job.sde_diffusion, sigma, path.schedule.beta)
        start = time.perf_counter()
        z = each_batch(
            lambda x, n=n, s=sigma_t, g=gen: samplers.sample(
                "em", flow, x, n, score=score, sigma=s, generator=g
            )
        )
        runs.append(
            finish(z, start, sampler="sde", nfe=samplers.nfe("em", n), n_steps=n, sigma=sigma)
        )
    return runs
