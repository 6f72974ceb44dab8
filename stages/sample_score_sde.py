"""Stage sample_score_sde: Song et al.'s predictor / corrector table for the VE and VP image
models (P N, P 2N, C 2N, PC N per predictor, and the adaptive probability-flow ODE), each cell
pooled over the sampling seeds and scored on the sample stage's yardstick; the paper's orderings
checked with paired intervals; the best cell against the flow models' best; bits/dim."""

from __future__ import annotations

from lib.images import score_sde_sampling as pc
from lib.images.data import load_image_npz
from lib.images.score_sde_likelihood import BitsJob, run_bits
from lib.infra import layout
from lib.infra.distributed import current_world
from lib.infra.io import save_npz
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage
from lib.metrics import pc_table
from lib.metrics.sample_reference import sample_yardstick
from lib.metrics.yardstick import compare
from lib.params import load_params
from lib.plots import score_sde as plots
from lib.plots.image_grids import grids


def main(p, device, out):
    sample_p, train_p = load_params("sample"), load_params("train_score_sde")
    sdes = train_p.sdes
    name, data = load_image_npz(layout.IMAGES)
    stick, flow = sample_yardstick(sample_p, data, device)
    pc_table.check_inputs(p, train_p, stick)
    jobs = [
        pc.TableJob(
            sde=sde,
            seed=seed,
            image_shape=tuple(data.train.images.shape[1:]),
            n_levels=data.n_levels,
            n_images=p.n_images,
            batch_size=p.batch_size,
            n_steps=p.n_steps,
            predictors=tuple(p.predictors),
            snr=getattr(p.snr, sde),
            eps=getattr(p.eps, sde),
            denoise=p.denoise,
            adaptive=p.adaptive.model_dump(),
            device=str(device),
        )
        for sde in sdes
        for seed in p.seeds
    ]
    cells = pc.pool_seeds([c for cs in map_jobs(pc.run_table, jobs, device) for c in cs])
    if not current_world().is_main:  # under torchrun the other ranks only share the sampling
        return {}
    save_npz(out / "samples.npz", **{".".join(k): c.images for k, c in cells.items()})
    scores = {k: stick.score(c.images) for k, c in cells.items()}
    level = sample_p.yardstick.level
    checks = pc_table.orderings(scores, sdes, p.predictors, level)
    best = min(scores, key=lambda k: scores[k].kid.value)
    b = p.bits_per_dim
    bits = map_jobs(
        run_bits,
        [
            BitsJob(sde, getattr(p.eps, sde), b.seed, b.n_images, b.method, b.n_steps,
                    b.n_probes, b.n_repeats, b.batch_size, str(device))
            for sde in sdes
        ],
        device,
    )  # fmt: skip
    figures = out / "figures"
    plots.kid_vs_nfe(cells, scores, flow, stick.real, figures / "kid_vs_nfe.pdf", level)
    for sde in sdes:
        grid = {
            f"{s} {v}": c.images[: p.grid_n_images] for (d, s, v), c in cells.items() if d == sde
        }
        grids(grid, data.n_levels, figures / f"grids_{sde}.png")
    return {
        "dataset": name,
        "n_steps": p.n_steps,
        "n_images": p.n_images * len(p.seeds),
        "real_vs_real": stick.real.to_dict(level),
        "cells": pc_table.cells_to_dict(cells, scores, level),
        "orderings": checks,
        "tally": pc_table.tally(checks),
        "best": {
            **pc_table.describe(cells[best]),
            "vs_flow_best": compare(scores[best], flow.score, level),
        },
        "flow_best": {
            **{k: flow.best[k] for k in ("schedule", "key", "nfe")},
            **flow.score.to_dict(level),
        },
        "paper": {"fid": pc_table.PAPER_FID, "n_steps": pc_table.PAPER_N},
        "bits_per_dim": {r["sde"]: r for r in bits},
    }


if __name__ == "__main__":
    run_stage("sample_score_sde", main, distributed=True)  # NPROC=N: sampling over N processes
