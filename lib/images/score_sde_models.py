"""The VE and VP score models on images (train_score_sde): a UNet noise predictor with scaled
input (`lib.nets.preconditioning`) trained by denoising score matching on the SDE's Gaussian path,
its score s = -eps_hat / sigma_t, and the files that store it.

The SDEs are schedules of the one Gaussian path (`lib.paths.schedules.VESchedule`,
`VPSchedule`), so training is `lib.flows.score_matching.fit` unchanged: the sigma^2-weighted loss
|eps_hat(x_t, t) - eps|^2 with x_t = alpha_t z + sigma_t eps and t ~ U[0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.flows import score_matching
from lib.flows.likelihood import dequantize
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.distributed import current_world
from lib.nets.preconditioning import ScaledInput
from lib.nets.unet import UNetConfig, build_unet, count_parameters, load_unet, save_unet
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import Schedule, VESchedule, VPSchedule
from lib.training.loop import LrSchedule

STAGE = "train_score_sde"
SCHEDULE_TYPES: dict[str, type[Schedule]] = {"ve": VESchedule, "vp": VPSchedule}


def largest_pairwise_distance(images: torch.Tensor, n_levels: int) -> float:
    """max_ij |x_i - x_j| over integer images (n, ...) at their bin centres in the model scale
    [-1, 1]: Song and Ermon's (2020) choice of sigma_max, so that the prior N(0, sigma_max^2 I)
    covers every pair of training points."""
    x = (2 * (images.double() + 0.5) / n_levels - 1).reshape(len(images), -1)
    return torch.cdist(x, x).max().item()


def schedule_settings(p, kind: str, images: torch.Tensor, n_levels: int) -> dict:
    """The keyword arguments of the `kind` SDE's schedule from the train_score_sde params `p`."""
    if kind == "ve":
        sigma_max = p.ve.sigma_max
        if sigma_max is None:
            sigma_max = largest_pairwise_distance(images, n_levels)
        return {"sigma_min": p.ve.sigma_min, "sigma_max": sigma_max}
    if kind == "vp":
        return {"beta_min": p.vp.beta_min, "beta_max": p.vp.beta_max}
    raise ValueError(f"unknown SDE {kind!r}; allowed: {sorted(SCHEDULE_TYPES)}")


@dataclass(frozen=True)
class ScoreSdeTraining:
    """One score model's training run: picklable, for a worker process."""

    kind: str  # "ve" or "vp"
    schedule: dict  # the schedule's keyword arguments
    config: UNetConfig
    n_iters: int
    batch_size: int
    lr: float
    lr_schedule: LrSchedule
    ema_decay: float | None
    seed: int
    checkpoint_every: int


def build_model(kind: str, schedule: dict, config: UNetConfig, in_channels: int, image_size):
    """(ScaledInput(UNet), schedule): a fresh noise predictor of the `kind` SDE."""
    sch = SCHEDULE_TYPES[kind](**schedule)
    return ScaledInput(build_unet(config, in_channels, tuple(image_size)), sch), sch


def fit_job(job: ScoreSdeTraining) -> dict:
    """Train one model on the training images and save it (a worker's entry point); under data
    parallelism every rank trains on its shard of each batch and rank 0 saves."""
    device = get_device()
    world = current_world()
    _, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.train.images, device=device)
    torch.manual_seed(job.seed)
    model, schedule = build_model(
        job.kind, job.schedule, job.config, images.shape[1], images.shape[2:]
    )
    model = model.to(device)
    generator = torch.Generator().manual_seed(job.seed)  # on the CPU: same batches on any device
    result = score_matching.fit(
        model,
        GaussianPath(schedule),
        images,
        n_iters=job.n_iters,
        batch_size=job.batch_size,
        lr=job.lr,
        generator=generator,
        loss="noise",
        lr_schedule=job.lr_schedule,
        ema_decay=job.ema_decay,
        preprocess=lambda x, g: dequantize(x, data.n_levels, g),
        checkpoint=layout.checkpoint(STAGE, job.kind),
        checkpoint_every=job.checkpoint_every,
        world=world,
    )
    if world.is_main:
        save_unet(
            layout.model(STAGE, job.kind),
            model.net,
            tuple(images.shape[2:]),
            target="noise",
            sde=job.kind,
            schedule=job.schedule,
        )
    tail = result.train_loss[-min(100, len(result.train_loss)) :]
    return {
        "kind": job.kind,
        "train_loss": result.train_loss,
        "summary": {
            "final_loss": sum(tail) / len(tail),
            "train_seconds": result.seconds,
            "resumed_from": result.resumed_from,
            "n_parameters": count_parameters(model),
            "schedule": job.schedule,
        },
    }


def load_score_model(kind: str, device: torch.device | str) -> tuple[ScaledInput, Schedule]:
    """(noise predictor in eval mode, its schedule) as train_score_sde saved them."""
    net, meta = load_unet(layout.model(STAGE, kind), device)
    schedule = SCHEDULE_TYPES[meta["sde"]](**meta["schedule"])
    return ScaledInput(net, schedule).eval(), schedule
