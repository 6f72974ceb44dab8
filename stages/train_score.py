"""Stage train_score: UNet noise predictors eps_hat(x, t) on images, one per schedule, by
denoising score matching; the score is s = -eps_hat / sigma_t (stable as sigma -> 0 at t = 1)."""

from __future__ import annotations

import torch

from lib.images.data import load_image_npz
from lib.images.models import fit_all, training
from lib.infra import layout
from lib.infra.stage import run_stage


def main(p, device, out):
    name, data = load_image_npz(layout.IMAGES)
    jobs = [
        (f"noise_{s}", training(p, s, target="noise"), None, None, p.checkpoint_every)
        for s in p.schedules
    ]
    images = torch.as_tensor(data.train.images)
    return {
        "dataset": name,
        "model": {
            **p.unet.model_dump(),
            "in_channels": images.shape[1],
            "image_size": list(images.shape[2:]),
        },
        "models": fit_all("train_score", jobs, device, out),
    }


if __name__ == "__main__":
    run_stage("train_score", main, distributed=True)  # NPROC=N: N processes per training
