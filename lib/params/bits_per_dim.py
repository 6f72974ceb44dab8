"""Params of the bits_per_dim stage: bits/dim of an image flow by its probability-flow ODE."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.params import PositiveInt, Section, Seed
from lib.params._choices import OdeMethod
from lib.paths.schedules import SCHEDULES


class BitsPerDimParams(Section):
    seed: Seed  # the dequantization draws (and probes), shared by every solve
    schedule: Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]  # which train_flow model
    n_images: PositiveInt  # the first test images; both divergences on the same images
    method: OdeMethod
    n_steps: PositiveInt
    tight_n_steps: PositiveInt  # a finer solve (Hutchinson, same probes) bounds the solver error
    n_probes: PositiveInt  # Hutchinson probes per solve
    # Hutchinson solves per image: >= 2 for the estimator's spread
    n_repeats: Annotated[int, Field(ge=2)]
    batch_size: PositiveInt


SCHEMA = BitsPerDimParams
