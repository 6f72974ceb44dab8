"""Stage train_gan: a DCGAN on the images by the non-saturating losses, trained with a resumable
checkpoint; its discriminator logit d(x) is the energy term of the ddls stage."""

from __future__ import annotations

import torch
from lib.nets.gan import Discriminator, GanConfig, Generator, save_gan
from lib.training.gan_loop import fit_gan

from lib.flows.likelihood import dequantize
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.stage import run_stage
from lib.nets.unet import count_parameters
from lib.training.curves import log_curves


def main(p, device, out):
    name, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.train.images, device=device)
    config = GanConfig(**{**p.gan.model_dump(), "channels": tuple(p.gan.channels)})
    shape = tuple(images.shape[2:])
    torch.manual_seed(p.seed)
    generator = Generator(config, images.shape[1], shape).to(device)
    discriminator = Discriminator(config, images.shape[1], shape).to(device)
    result = fit_gan(
        generator,
        discriminator,
        images,
        n_iters=p.n_iters,
        batch_size=p.batch_size,
        lr_g=p.lr_g,
        lr_d=p.lr_d,
        n_critic=p.n_critic,
        latent_dim=config.latent_dim,
        preprocess=lambda x, g: dequantize(x, data.n_levels, g),
        seed_generator=torch.Generator().manual_seed(p.seed),
        checkpoint=layout.checkpoint("train_gan", "gan"),
        checkpoint_every=p.checkpoint_every,
    )
    save_gan(layout.model("train_gan", "gan"), generator, discriminator, shape)
    log_curves(out, "generator", result.g_loss)
    log_curves(out, "discriminator", result.d_loss)
    tail = min(100, len(result.d_loss))

    def last(values: list[float]) -> float:
        return sum(values[-tail:]) / tail

    return {
        "dataset": name,
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
    }


if __name__ == "__main__":
    run_stage("train_gan", main)
