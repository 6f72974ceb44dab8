"""The train_gan stage's GANs: one training job per model (the GAN, and optionally the same GAN
with its stabiliser switched, to measure it), run side by side as worker processes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.flows.likelihood import dequantize
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.device import get_device
from lib.infra.distributed import current_world
from lib.nets.gan import Discriminator, GanConfig, Generator, save_gan
from lib.nets.unet import count_parameters
from lib.training.gan_loop import fit_gan

STAGE = "train_gan"


@dataclass(frozen=True)
class GanJob:
    tag: str  # the model file's name: "gan", or "gan_ablation" for the switched stabiliser
    config: GanConfig
    seed: int
    n_iters: int
    batch_size: int
    lr_g: float
    lr_d: float
    n_critic: int
    checkpoint_every: int


def fit_job(job: GanJob) -> dict:
    """Train one GAN on the training images and save it (a worker's entry point): its summary and
    loss curves. Under data parallelism every rank trains on its shards; rank 0 saves."""
    device = get_device()
    world = current_world()
    _, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.train.images, device=device)
    shape = tuple(images.shape[2:])
    torch.manual_seed(job.seed)
    generator = Generator(job.config, images.shape[1], shape).to(device)
    discriminator = Discriminator(job.config, images.shape[1], shape).to(device)
    result = fit_gan(
        generator,
        discriminator,
        images,
        n_iters=job.n_iters,
        batch_size=job.batch_size,
        lr_g=job.lr_g,
        lr_d=job.lr_d,
        n_critic=job.n_critic,
        latent_dim=job.config.latent_dim,
        preprocess=lambda x, g: dequantize(x, data.n_levels, g),
        seed_generator=torch.Generator().manual_seed(job.seed),
        checkpoint=layout.checkpoint(STAGE, job.tag),
        checkpoint_every=job.checkpoint_every,
        world=world,
    )
    if world.is_main:
        save_gan(
            layout.model(STAGE, job.tag), generator, discriminator, shape,
            spectral_norm=job.config.spectral_norm,
        )  # fmt: skip
    tail = min(100, len(result.d_loss))

    def last(values: list[float]) -> float:
        return sum(values[-tail:]) / tail

    return {
        "tag": job.tag,
        "g_loss": result.g_loss,
        "d_loss": result.d_loss,
        "summary": {
            "spectral_norm": job.config.spectral_norm,
            "n_parameters": {
                "generator": count_parameters(generator),
                "discriminator": count_parameters(discriminator),
            },
            "final": {  # means over the last 100 iterations
                "d_loss": last(result.d_loss),
                "g_loss": last(result.g_loss),
                "d_real": last(result.d_real_mean),
                "d_fake": last(result.d_fake_mean),
            },
            "train_seconds": result.seconds,
            "resumed_from": result.resumed_from,
        },
    }
