"""Params of the train_score_sde stage: noise-conditional UNets of the VE and VP SDEs of Song et
al. (2021), one per SDE, by denoising score matching (sigma^2-weighted, epsilon-prediction)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.params.train_flow import UNetParams

SdeKind = Literal["ve", "vp"]


class VeParams(Section):
    sigma_min: PositiveFloat  # the noise scale at the data end (t = 1)
    # the prior's scale N(0, sigma_max^2 I) at t = 0; null: the largest pairwise distance between
    # training images in the model scale [-1, 1] (Song and Ermon 2020, technique 1)
    sigma_max: PositiveFloat | None


class VpParams(Section):
    beta_min: Annotated[float, Field(ge=0)]  # the SDE's rate beta(s) = beta_min + s (max - min)
    beta_max: PositiveFloat


class TrainScoreSdeParams(Section):
    """train_score's settings, with the SDEs in place of the schedules."""

    seed: Seed
    sdes: list[SdeKind] = Field(min_length=1)  # one model per SDE
    ve: VeParams
    vp: VpParams
    unet: UNetParams
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    lr_schedule: Literal["constant", "cosine"]
    ema_decay: Annotated[float, Field(ge=0, lt=1)] | None
    checkpoint_every: PositiveInt  # iterations between resumable checkpoints

    @model_validator(mode="after")
    def _check(self):
        if len(set(self.sdes)) != len(self.sdes):
            raise ValueError(f"sdes must be distinct, got {self.sdes}")
        if self.ve.sigma_max is not None and self.ve.sigma_max <= self.ve.sigma_min:
            raise ValueError(
                f"ve.sigma_max = {self.ve.sigma_max} must exceed ve.sigma_min = {self.ve.sigma_min}"
            )
        if self.vp.beta_max < self.vp.beta_min:
            raise ValueError(
                f"vp.beta_max = {self.vp.beta_max} must be >= vp.beta_min = {self.vp.beta_min}"
            )
        return self


SCHEMA = TrainScoreSdeParams
