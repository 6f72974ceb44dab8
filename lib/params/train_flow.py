"""Params of the train_flow stage: UNet velocity fields on images by flow matching, one per
schedule, and a class-to-class flow."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.flows.flow_matching import COUPLINGS
from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.paths.schedules import SCHEDULES

Schedule = Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]
DigitClass = Annotated[int, Field(ge=0, le=9)]  # the four image datasets have ten classes


class UNetParams(Section):
    channels: list[PositiveInt] = Field(min_length=1)  # one per resolution level
    n_res_per_level: PositiveInt
    n_bottleneck: Annotated[int, Field(ge=0)]
    time_dim: PositiveInt  # even: t and sin/cos of time_dim / 2 frequencies


class CorruptionParams(Section):
    n_images: PositiveInt
    times: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=2)


class OptimParams(Section):
    """The training settings shared by the image models (train_flow, train_score)."""

    seed: Seed
    schedules: list[Schedule] = Field(min_length=1)  # one model per schedule
    unet: UNetParams
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    lr_schedule: Literal["constant", "cosine"]
    ema_decay: Annotated[float, Field(ge=0, lt=1)] | None
    checkpoint_every: PositiveInt  # iterations between resumable checkpoints

    @model_validator(mode="after")
    def _distinct(self):
        if len(set(self.schedules)) != len(self.schedules):
            raise ValueError(f"schedules must be distinct, got {self.schedules}")
        return self


class TransferParams(Section):
    """Flow from the images of one class (t = 0) to those of another (t = 1)."""

    source_class: DigitClass
    target_class: DigitClass
    coupling: Literal[tuple(COUPLINGS)]  # type: ignore[valid-type]
    schedule: Schedule
    n_iters: PositiveInt
    batch_size: PositiveInt

    @model_validator(mode="after")
    def _two_classes(self):
        if self.source_class == self.target_class:
            raise ValueError(f"source_class and target_class must differ, both {self.source_class}")
        return self


class TrainFlowParams(OptimParams):
    corruption: CorruptionParams
    transfer: TransferParams | None  # null: no class-to-class flow


SCHEMA = TrainFlowParams
