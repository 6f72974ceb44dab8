"""The SDE primer's three experiments: Brownian motion, Ornstein–Uhlenbeck, Langevin dynamics.

Each simulates with Euler–Maruyama and returns the paths to plot plus the statistics that are
compared with theory (variances, convergence to the target law).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lib.data.densities import Mixture, gaussian_mixture
from lib.infra.timing import power_law_exponent
from lib.metrics.distances import ks_statistic
from lib.metrics.mixture_distance import energy_distance_to_mixture_1d
from lib.params.primer import BrownianParams, LangevinParams, OUParams
from lib.sde.processes import BrownianMotion, Langevin, OrnsteinUhlenbeck
from lib.sde.solvers import euler_maruyama, odeint, time_grid


@dataclass(frozen=True)
class SolverOrder:
    method: str
    n_steps: list[int]
    errors: list[float]  # |x_T - exact| at each step count
    order: float  # minus the least-squares slope of log error vs log n_steps


def solver_orders(methods: list[str], n_steps: list[int]) -> list[SolverOrder]:
    """Global error on dx/dt = cos(t) x, x(0) = 1, t in [0, 3]: x(t) = exp(sin t) exactly."""
    field = lambda x, t: torch.cos(t) * x  # noqa: E731
    exact = math.exp(math.sin(3.0))
    x0 = torch.ones(1, 1, dtype=torch.float64)
    runs = []
    for method in methods:
        errors = [
            abs(
                odeint(field, x0, time_grid(0.0, 3.0, n, dtype=torch.float64), method).item()
                - exact
            )
            for n in n_steps
        ]
        order = -power_law_exponent(n_steps, np.maximum(errors, 1e-300))
        runs.append(SolverOrder(method, list(n_steps), errors, order))
    return runs


@dataclass(frozen=True)
class VarianceRun:
    """One process: a few paths to draw, and ensemble statistics over time."""

    label: float  # sigma (Brownian) or theta (OU)
    t: torch.Tensor  # (n_t,)
    paths: torch.Tensor  # (n_t, n_plot) paths to draw
    var_empirical: torch.Tensor  # (n_t,) ensemble variance
    var_theory: torch.Tensor  # (n_t,)
    mean_error: torch.Tensor  # (n_t,) max over starts of |ensemble mean - exact mean|
    final: torch.Tensor  # (n_stats,) ensemble at t_end, centred on its exact mean


def _simulate(process, x0: torch.Tensor, t: torch.Tensor, gen) -> torch.Tensor:
    """(n_t, n) Euler–Maruyama paths of a scalar process from starts x0 (n,)."""
    return euler_maruyama(process.drift, process.diffusion, x0[:, None], t, gen, True)[..., 0]


def brownian(p: BrownianParams, device: torch.device, gen: torch.Generator) -> list[VarianceRun]:
    t = time_grid(0.0, p.t_end, p.n_steps, device, torch.float64)
    runs = []
    for sigma in p.sigmas:
        bm = BrownianMotion(sigma)
        x0 = torch.zeros(p.n_paths_stats, device=device, dtype=torch.float64)
        paths = _simulate(bm, x0, t, gen)
        theory = torch.tensor([bm.variance(s) for s in t.tolist()], dtype=torch.float64)
        runs.append(
            VarianceRun(
                sigma,
                t.cpu(),
                paths[:, : p.n_paths_plot].cpu(),
                paths.var(dim=1).cpu(),
                theory,
                paths.mean(dim=1).abs().cpu(),
                paths[-1].cpu(),
            )
        )
    return runs


def ornstein_uhlenbeck(
    p: OUParams, device: torch.device, gen: torch.Generator
) -> list[VarianceRun]:
    """For each theta, sigma = sqrt(2 theta D): all runs share the stationary law N(0, D)."""
    t = time_grid(0.0, p.t_end, p.n_steps, device, torch.float64)
    n_per_start = max(p.n_paths_stats // len(p.x0s), p.n_paths_plot)
    starts = torch.tensor(p.x0s, device=device, dtype=torch.float64)
    runs = []
    for theta in p.thetas:
        ou = OrnsteinUhlenbeck(theta, math.sqrt(2 * theta * p.stationary_variance))
        paths = _simulate(ou, starts.repeat_interleave(n_per_start), t, gen)
        paths = paths.reshape(len(t), len(p.x0s), n_per_start)  # (n_t, start, path)
        exact_mean = torch.stack([starts * math.exp(-theta * s) for s in t.tolist()])
        theory = torch.tensor([ou.variance(s) for s in t.tolist()], dtype=torch.float64)
        runs.append(
            VarianceRun(
                theta,
                t.cpu(),
                paths[:, :, : p.n_paths_plot].reshape(len(t), -1).cpu(),
                paths.var(dim=2).mean(dim=1).cpu(),
                theory,
                (paths.mean(dim=2) - exact_mean).abs().amax(dim=1).cpu(),
                (paths[-1] - exact_mean[-1][:, None]).reshape(-1).cpu(),
            )
        )
    return runs


@dataclass(frozen=True)
class LangevinRun:
    target: Mixture
    t: torch.Tensor  # (n_snap,) snapshot times
    snapshots: torch.Tensor  # (n_snap, n_particles)
    ks: torch.Tensor  # (n_snap,) KS distance to the target at each snapshot
    energy: torch.Tensor  # (n_snap,) unbiased energy distance to the target (closed form)
    ks_floor: float  # mean KS of exact target samples of the same size: the best attainable
    energy_floor: float  # mean energy distance of exact samples of the same size (about 0)
    ks_floor_draws: torch.Tensor  # (n_exact_draws,) the KS of each exact sample
    energy_floor_draws: torch.Tensor  # (n_exact_draws,) each exact sample's energy distance


def langevin(p: LangevinParams, device: torch.device, gen: torch.Generator) -> LangevinRun:
    """Particles from the point x0 under dX = 1/2 sigma^2 grad log p dt + sigma dW."""
    target = gaussian_mixture([[m] for m in p.means], p.stds, p.weights).to(device)
    process = Langevin(target, p.sigma)
    x = torch.full((p.n_particles, 1), p.x0, device=device)
    n_chunks = p.n_snapshots - 1
    steps_per_chunk = max(p.n_steps // n_chunks, 1)
    dt = p.t_end / (steps_per_chunk * n_chunks)
    snaps, times = [x], [0.0]
    for k in range(n_chunks):
        t0 = k * steps_per_chunk * dt
        grid = time_grid(t0, t0 + steps_per_chunk * dt, steps_per_chunk, device)
        x = euler_maruyama(process.drift, process.diffusion, x, grid, gen)
        snaps.append(x)
        times.append(t0 + steps_per_chunk * dt)

    def energy(s):  # to the target itself, in closed form: no reference sample's noise
        return energy_distance_to_mixture_1d(s, p.means, p.stds, p.weights)

    ks = torch.tensor([ks_statistic(s, target.cdf) for s in snaps])
    energy_t = torch.tensor([energy(s) for s in snaps])
    # An exact sample's distances are as noisy as the particles', so the floor is a distribution
    # over n_exact_draws exact samples of the same size.
    exact = [target.sample(p.n_particles, gen) for _ in range(p.n_exact_draws)]
    ks_floor = torch.tensor([ks_statistic(e, target.cdf) for e in exact])
    energy_floor = torch.tensor([energy(e) for e in exact])
    return LangevinRun(
        target.to("cpu"),
        torch.tensor(times),
        torch.stack(snaps)[..., 0].cpu(),
        ks,
        energy_t,
        ks_floor.mean().item(),
        energy_floor.mean().item(),
        ks_floor,
        energy_floor,
    )
