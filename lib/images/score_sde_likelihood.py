"""Bits/dim of a VE or VP image model by its probability-flow ODE, on the flows' code.

`lib.flows.likelihood.bits_per_dim` integrates a field over t in [0, 1] from the prior N(0, I);
`ScoreSDE.unit_prior_field` rewrites the probability flow (prior N(0, prior_std^2 I), stopping at
t = 1 - eps) as such a field with the same log-density at the data end, so the exact and the
Hutchinson divergence, the dequantization and the bound are those of the flow models' bits/dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lib.flows import score_matching
from lib.flows.likelihood import bits_per_dim
from lib.images.data import load_image_npz
from lib.images.score_sde_models import load_score_model
from lib.infra import layout
from lib.paths.gaussian import GaussianPath
from lib.sde.score_sde import ScoreSDE


def spread(per_image: list[float], n_levels: int) -> dict:
    """The median and maximum of per-image bits/dim, and how many images score worse than
    independent uniform pixels (log2 K bits/dim): a model whose probability flow carries an image
    far outside the prior gives it a huge value that dominates the mean, and these say so."""
    v = torch.tensor(per_image, dtype=torch.float64)
    uniform = math.log2(n_levels)
    return {
        "median": v.median().item(),
        "max": v.max().item(),
        "n_worse_than_uniform": int((v > uniform).sum()),
        "uniform_bits_per_dim": uniform,
    }


@dataclass(frozen=True)
class BitsJob:
    sde: str
    eps: float
    seed: int  # the dequantization draws and probes, shared by both divergences
    n_images: int
    method: str
    n_steps: int
    n_probes: int
    n_repeats: int
    batch_size: int
    device: str


def run_bits(job: BitsJob) -> dict:
    """Exact and Hutchinson bits/dim of the first test images (a worker's entry point)."""
    device = torch.device(job.device)
    _, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.test.images[: job.n_images])
    model, schedule = load_score_model(job.sde, device)
    sde = ScoreSDE(schedule, job.eps)
    score = score_matching.score_fn(model, GaussianPath(schedule))
    field = sde.unit_prior_field(sde.probability_flow_field(score))

    def run(divergence: str, **kw) -> dict:
        r = bits_per_dim(
            field,
            images,
            data.n_levels,
            n_steps=job.n_steps,
            method=job.method,
            divergence=divergence,
            generator=torch.Generator().manual_seed(job.seed),  # the same dequantization draws
            batch_size=job.batch_size,
            device=device,
            return_per_image=True,
            **kw,
        )
        return {**r, **spread(r.pop("per_image"), data.n_levels)}

    exact = run("exact")
    hutchinson = run("hutchinson", n_probes=job.n_probes, n_repeats=job.n_repeats)
    return {
        "sde": job.sde,
        "eps": job.eps,
        "exact": exact,
        "hutchinson": hutchinson,
        "hutchinson_minus_exact": hutchinson["bits_per_dim"] - exact["bits_per_dim"],
    }
