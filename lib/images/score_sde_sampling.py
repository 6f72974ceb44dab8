"""The predictor / corrector table of one score-SDE image model and one sampling seed: every cell
of Song et al.'s Table 1 from the same prior draw, returning quantized images to be scored.

Cells, for N = n_steps and each predictor: P N (predictor only, N levels), P 2N, PC N (one
Langevin corrector step before each of N predictor steps: 2N score evaluations); and once per
SDE: C 2N (the corrector alone at 2N levels) and the probability-flow ODE by an adaptive solver.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from lib.flows import score_matching
from lib.flows.likelihood import quantize
from lib.images.score_sde_models import load_score_model
from lib.infra.distributed import current_world, map_batches
from lib.paths.gaussian import GaussianPath
from lib.sde import registry
from lib.sde.score_sde import ScoreSDE

VARIANTS = ("p_n", "p_2n", "c_2n", "pc_n")  # the table's columns
VARIANT_LABELS = {"p_n": "P{n}", "p_2n": "P{2n}", "c_2n": "C{2n}", "pc_n": "PC{n}"}
CORRECTOR_ONLY = "corrector_only"  # the sampler of the C 2N cell (no predictor)
ADAPTIVE = "probability_flow_adaptive"


@dataclass(frozen=True)
class Cell:
    """One sampler run of n images of one SDE and seed."""

    sde: str  # "ve" or "vp"
    sampler: str  # a predictor, CORRECTOR_ONLY or ADAPTIVE
    variant: str  # one of VARIANTS, or "adaptive"
    n_steps: int | None  # levels (None: adaptive)
    nfe: float  # score evaluations per image (the adaptive solve's mean over batches)
    seconds: float
    images: np.ndarray  # (n, C, H, W) uint8

    @property
    def key(self) -> tuple[str, str, str]:
        return self.sde, self.sampler, self.variant


@dataclass(frozen=True)
class TableJob:
    """Everything one (SDE, seed) needs; picklable for a worker process."""

    sde: str
    seed: int
    image_shape: tuple[int, ...]  # (C, H, W)
    n_levels: int
    n_images: int
    batch_size: int
    n_steps: int
    predictors: tuple[str, ...]
    snr: float
    eps: float
    denoise: bool
    adaptive: dict  # {"method", "rtol", "atol"}
    device: str


def cell_plan(predictors, n_steps: int) -> list[tuple[str, str, str, int]]:
    """(sampler, variant, registry entry, levels) of every fixed-step cell, in the order they run:
    `lib.sde.registry` names the predictor alone by the predictor, "pc_<predictor>" with the
    Langevin corrector, and "langevin" the corrector alone."""
    plan = []
    for predictor in predictors:
        plan += [
            (predictor, "p_n", predictor, n_steps),
            (predictor, "p_2n", predictor, 2 * n_steps),
            (predictor, "pc_n", f"pc_{predictor}", n_steps),
        ]
    return [*plan, (CORRECTOR_ONLY, "c_2n", "langevin", 2 * n_steps)]


def cell_seed(seed: int, sampler: str, variant: str, batch: int = 0) -> int:
    """The seed of one cell's noise stream for one batch: a function of the cell's name, not of
    its position, so adding or removing a predictor leaves every other cell's images unchanged,
    and of the batch's index, so a batch draws the same noise on whichever rank computes it."""
    return (seed * 2**32 + zlib.crc32(f"{sampler}/{variant}/{batch}".encode())) % 2**63


def run_table(job: TableJob) -> list[Cell]:
    """Every cell of one SDE and seed from one prior draw x_0 (a worker's entry point); each cell
    and batch draws its noise from its own stream, so adding a cell leaves the others unchanged.
    Under data parallelism the batches are shared out over the ranks (`map_batches`) and every
    rank ends with every cell, the same cells whatever the number of ranks."""
    device = torch.device(job.device)
    world = current_world()
    model, schedule = load_score_model(job.sde, device)
    sde = ScoreSDE(schedule, job.eps)
    score = score_matching.score_fn(model, GaussianPath(schedule))
    prior = torch.Generator(device=device).manual_seed(job.seed)
    x0 = sde.prior_sample((job.n_images, *job.image_shape), prior, device)
    batches = x0.split(job.batch_size)
    cells = []
    plan = cell_plan(job.predictors, job.n_steps)
    for sampler, variant, entry, levels in [*plan, (ADAPTIVE, "adaptive", ADAPTIVE, None)]:
        options = job.adaptive if entry == ADAPTIVE else {"denoise": job.denoise}
        run = registry.get(entry).run

        def one_batch(i: int, b: torch.Tensor, cell=(sampler, variant, run, levels, options)):
            sampler, variant, run, levels, options = cell
            gen = torch.Generator(device=device).manual_seed(
                cell_seed(job.seed, sampler, variant, i)
            )
            x, nfe = run(b, levels, score=score, sde=sde, snr=job.snr, generator=gen, **options)
            return x.cpu(), nfe

        start = time.perf_counter()
        # (x, nfe) per batch; the adaptive solve's NFE varies with the batch
        runs = map_batches(one_batch, batches, world)
        x = torch.cat([r for r, _ in runs]).to(device)
        nfe = sum(n * len(r) for r, n in runs) / len(x)
        cells.append(_cell(job, sampler, variant, levels, nfe, start, x))
    return cells


def _cell(job: TableJob, sampler, variant, n_steps, nfe, start: float, x: torch.Tensor) -> Cell:
    images = quantize(x, job.n_levels).cpu().numpy()
    seconds = time.perf_counter() - start
    return Cell(job.sde, sampler, variant, n_steps, nfe, seconds, images)


def pool_seeds(cells: list[Cell]) -> dict[tuple[str, str, str], Cell]:
    """One cell per (SDE, sampler, variant) with the images of every seed, in the order given;
    seconds summed, NFE averaged over images."""
    groups: dict[tuple[str, str, str], list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.key, []).append(c)
    pooled = {}
    for key, group in groups.items():
        n = [len(c.images) for c in group]
        nfe = sum(c.nfe * k for c, k in zip(group, n, strict=True)) / sum(n)
        images = np.concatenate([c.images for c in group])
        first = group[0]
        seconds = sum(c.seconds for c in group)
        pooled[key] = Cell(
            first.sde, first.sampler, first.variant, first.n_steps, nfe, seconds, images
        )
    return pooled
