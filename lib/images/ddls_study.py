"""The DDLS experiment on a trained GAN: latent Langevin chains on E(z) = |z|^2 / 2 - d(G(z)) from
one prior draw z_0, the images G(z_k) after k steps for a grid of k and step sizes, the energy and
d(G(z)) along the chains, and the competitors' images rescored on the same yardstick.

All chains of one step size start from the same z_0 (k = 0 is the plain generator), so the KID
after k steps and the generator's are paired image by image."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from lib.flows.likelihood import quantize
from lib.infra import layout
from lib.infra.io import load_npz, read_json
from lib.sde.latent_langevin import ddls, latent_energy

ODE_SAMPLERS = ("exact", "euler", "rk2", "heun", "rk4")


class _Recorder:
    """Called by the chain on z_0, z_1, ... in turn: returns d(G(z_k)) (n,) and keeps the images
    G(z_k) of the steps k asked for."""

    def __init__(self, generator, logit, steps: list[int]):
        self.generator, self.logit, self.steps = generator, logit, set(steps)
        self.k, self.images = 0, {}

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = self.generator(z)
            if self.k in self.steps:
                self.images[self.k] = x
            self.k += 1
            return self.logit(x).reshape(len(z))


@dataclass(frozen=True, eq=False)
class ChainRun:
    """One step size's chains: the images after each k of `steps`, the means over chains of the
    energy and of d(G(z)) at every step, and the cost."""

    step_size: float
    mala: bool
    images: dict[int, np.ndarray]  # k -> (n, C, H, W) uint8
    energy: np.ndarray  # (max k + 1,) mean over chains
    logit: np.ndarray  # (max k + 1,) mean d(G(z)) over chains
    acceptance: float | None  # MALA's mean acceptance rate
    seconds_per_step: float  # wall time of one step of all n chains


def run_chains(
    generator, logit, z0: torch.Tensor, steps: list[int], step_size: float, *,
    decay: float, decay_every: int, mala: bool, n_levels: int, batch_size: int, seed: int,
    noise_scale: float = 1.0,
) -> ChainRun:  # fmt: skip
    """Chains from z0 (n, latent_dim) for max(steps) steps, batch by batch; the noise of each batch
    from its own seeded stream.

    noise_scale s: z <- z - (eps/2) grad E + s sqrt(eps) n, which samples exp(-E / s^2) (s < 1
    sharpens p_t); run as the Langevin step on E / s^2 with step eps s^2, the same update. The
    recorded energies are E itself."""
    temp = noise_scale**2
    n_steps = max(steps)
    per_batch, energies, logits, accept, seconds = [], [], [], [], 0.0
    for b, z in enumerate(z0.split(batch_size)):
        record = _Recorder(generator, logit, steps)
        gen = torch.Generator(device=z.device).manual_seed(seed * 1_000 + b)
        start = time.perf_counter()
        chain = ddls(
            lambda zz: latent_energy(generator, logit, zz) / temp, z, n_steps, step_size * temp,
            decay=decay, decay_every=decay_every, mala=mala, generator=gen, record=record,
        )  # fmt: skip
        seconds += time.perf_counter() - start
        per_batch.append(record.images)
        energies.append(chain.energies * temp)
        logits.append(chain.records)
        if chain.acceptance is not None:
            accept.append(chain.acceptance)
    images = {
        k: quantize(torch.cat([s[k] for s in per_batch]), n_levels).cpu().numpy() for k in steps
    }
    return ChainRun(
        step_size=step_size,
        mala=mala,
        images=images,
        energy=torch.cat(energies, dim=1).mean(1).cpu().numpy(),
        logit=torch.cat(logits, dim=1).mean(1).cpu().numpy(),
        acceptance=float(np.mean(accept)) if accept else None,
        seconds_per_step=seconds / max(n_steps, 1),
    )


@dataclass(frozen=True, eq=False)
class Competitor:
    """Another stage's best sampler, its images and cost, to be rescored here."""

    name: str
    nfe: float  # network evaluations per image
    seconds_per_image: float
    images: np.ndarray


def competitors() -> list[Competitor]:
    """The flows' best ODE sampler (sample) and the score SDEs' best cell (sample_score_sde)."""
    out = []
    sample = read_json(layout.results("sample") / "metrics.json")
    runs = [
        (s, key, run)
        for s, entry in sample["schedules"].items()
        for key, run in entry["runs"].items()
        if run["sampler"] in ODE_SAMPLERS
    ]
    s, key, run = min(runs, key=lambda r: r[2]["kid"]["value"])
    images = load_npz(layout.results("sample") / "samples.npz")[f"{s}.{key}"]
    name = f"flow ODE ({s}, {run['sampler']})"
    out.append(Competitor(name, run["nfe"], run["seconds"] / run["n_images"], images))
    pc = read_json(layout.results("sample_score_sde") / "metrics.json")
    b = pc["best"]
    cell = pc["cells"][b["sde"]][b["sampler"]][b["variant"]]
    key = f"{b['sde']}.{b['sampler']}.{b['variant']}"
    images = load_npz(layout.results("sample_score_sde") / "samples.npz")[key]
    name = f"score SDE ({b['sde'].upper()} {b['sampler'].replace('_', ' ')} {b['variant']})"
    out.append(Competitor(name, b["nfe"], cell["seconds"] / cell["n_images"], images))
    return out
