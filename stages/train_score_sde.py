"""Stage train_score_sde: UNet noise predictors of the VE and VP SDEs (Song et al. 2021) on the
images, by denoising score matching; the score is s = -eps_hat / sigma_t."""

from __future__ import annotations

import torch

from lib.images.data import load_image_npz
from lib.images.score_sde_models import ScoreSdeTraining, fit_job, schedule_settings
from lib.infra import layout
from lib.infra.distributed import current_world
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage
from lib.nets.unet import UNetConfig
from lib.training.curves import log_curves


def main(p, device, out):
    name, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.train.images)
    config = UNetConfig(**{**p.unet.model_dump(), "channels": tuple(p.unet.channels)})
    jobs = [
        ScoreSdeTraining(
            kind=kind,
            schedule=schedule_settings(p, kind, images, data.n_levels),
            config=config,
            n_iters=p.n_iters,
            batch_size=p.batch_size,
            lr=p.lr,
            lr_schedule=p.lr_schedule,
            ema_decay=p.ema_decay,
            seed=p.seed,
            checkpoint_every=p.checkpoint_every,
        )
        for kind in p.sdes
    ]
    results = map_jobs(fit_job, jobs, device)
    if current_world().is_main:
        for r in results:
            log_curves(out, r["kind"], r["train_loss"])
    return {
        "dataset": name,
        "model": {**p.unet.model_dump(), "in_channels": images.shape[1]},
        "models": {r["kind"]: r["summary"] for r in results},
    }


if __name__ == "__main__":
    run_stage("train_score_sde", main, distributed=True)  # NPROC=N: N processes per training
