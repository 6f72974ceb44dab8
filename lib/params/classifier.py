"""Params of the classifier stage: the CNN whose penultimate features define the FID."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lib.params import PositiveFloat, PositiveInt, Section, Seed


class ClassifierParams(Section):
    seed: Seed
    channels: list[PositiveInt] = Field(min_length=1)  # one stride-2 block per entry
    feature_dim: PositiveInt  # the FID features (penultimate layer)
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    lr_schedule: Literal["constant", "cosine"]
    eval_every: PositiveInt  # validation accuracy; the best weights are kept


SCHEMA = ClassifierParams
