"""Params of the train_gan stage: a DCGAN on the images by the non-saturating losses, whose
discriminator logit d(x) is kept as the energy term of DDLS (the ddls stage)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lib.params import PositiveFloat, PositiveInt, Section, Seed


class GanNetParams(Section):
    latent_dim: PositiveInt
    channels: list[PositiveInt] = Field(min_length=1)  # one per resolution level
    spectral_norm: bool  # on the discriminator's layers (the stabiliser; false to measure it)
    batch_norm: bool  # in the generator


class TrainGanParams(Section):
    seed: Seed
    gan: GanNetParams
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr_g: PositiveFloat
    lr_d: PositiveFloat
    n_critic: Annotated[int, Field(ge=1)]  # discriminator steps per generator step
    checkpoint_every: PositiveInt  # iterations between resumable checkpoints
    # also train the same GAN with gan.spectral_norm switched (side by side): ddls measures it
    spectral_norm_ablation: bool


SCHEMA = TrainGanParams
