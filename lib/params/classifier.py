"""Params of the classifier stage: the CNN whose penultimate features define every
sample-quality metric (KID, FID, precision / recall)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.params import PositiveFloat, PositiveInt, Section, Seed


class ClassifierParams(Section):
    seed: Seed
    channels: list[PositiveInt] = Field(min_length=1)  # one stride-2 block per entry
    feature_dim: PositiveInt  # the metrics' features (penultimate layer)
    batch_norm: bool  # after every convolution
    dropout: Annotated[float, Field(ge=0, lt=1)]  # before the last layer
    label_smoothing: Annotated[float, Field(ge=0, lt=1)]
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    lr_schedule: Literal["constant", "cosine"]
    weight_decay: Annotated[float, Field(ge=0)]  # L2 penalty on the weights
    max_shift: Annotated[int, Field(ge=0)]  # random shifts of up to this many pixels
    dequantize: bool  # train on 2 (x + u) / K - 1, u ~ U[0, 1), as the generative models
    n_holdout: PositiveInt  # training images kept out of training: validation and selection
    eval_every: PositiveInt  # holdout cross-entropy; the weights with the lowest are kept


SCHEMA = ClassifierParams
