"""Stage train_flow: UNet velocity fields on images by conditional flow matching (one per
schedule) and a class-to-class flow between two digit classes."""

from __future__ import annotations

import torch

from lib.flows.likelihood import dequantize
from lib.images.data import load_image_npz
from lib.images.models import fit_all, training
from lib.infra import layout
from lib.infra.distributed import current_world
from lib.infra.stage import run_stage, seeded_generator
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule
from lib.plots import image_training as image_training_plots


def corruption(p, schedule, images, n_levels, device, out) -> None:
    """A few training images corrupted along the path at the chosen times."""
    gen = seeded_generator(p.seed, device)
    z = dequantize(images[: p.corruption.n_images], n_levels, gen)
    eps = torch.randn(z.shape, generator=gen, device=device)
    path = GaussianPath(make_schedule(schedule))
    rows = torch.stack([path.sample(z, t, eps).x_t for t in p.corruption.times], dim=1)
    image_training_plots.image_corruption(
        rows.cpu().numpy(), p.corruption.times, out / "figures" / f"corruption_{schedule}.png"
    )


def main(p, device, out):
    name, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.train.images, device=device)  # uint8 (N, C, H, W)
    if current_world().is_main:  # rank 0 alone writes files
        for schedule in p.schedules:
            corruption(p, schedule, images, data.n_levels, device, out)
    jobs = [(f"velocity_{s}", training(p, s), None, None, p.checkpoint_every) for s in p.schedules]
    if (t := p.transfer) is not None:
        run = training(
            p,
            t.schedule,
            coupling=t.coupling,
            n_iters=t.n_iters,
            batch_size=t.batch_size,
        )
        jobs.append(("transfer", run, t.source_class, t.target_class, p.checkpoint_every))
    models = fit_all("train_flow", jobs, device, out)
    return {
        "dataset": name,
        "model": {
            **p.unet.model_dump(),
            "in_channels": images.shape[1],
            "image_size": list(images.shape[2:]),
        },
        "models": models,
    }


if __name__ == "__main__":
    run_stage("train_flow", main, distributed=True)  # NPROC=N: N processes per training
