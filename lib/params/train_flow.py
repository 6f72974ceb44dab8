"""Params of the train_flow stage: a UNet velocity field on images by flow matching."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.paths import SCHEDULES


class UNetParams(Section):
    channels: list[PositiveInt] = Field(min_length=1)  # one per resolution level
    n_res_per_level: PositiveInt
    n_bottleneck: Annotated[int, Field(ge=0)]
    time_dim: PositiveInt  # even: t and sin/cos of time_dim / 2 frequencies


class CorruptionParams(Section):
    n_images: PositiveInt
    times: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=2)


class TrainFlowParams(Section):
    seed: Seed
    schedule: Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]
    unet: UNetParams
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    lr_schedule: Literal["constant", "cosine"]
    ema_decay: Annotated[float, Field(ge=0, lt=1)] | None
    checkpoint_every: PositiveInt  # iterations between resumable checkpoints
    corruption: CorruptionParams


SCHEMA = TrainFlowParams
