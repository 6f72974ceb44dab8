"""Params of the metrics stage: headline numbers, and bits/dim of an image flow."""

from __future__ import annotations

from typing import Literal

from lib.params import PositiveInt, Section, Seed
from lib.params._choices import OdeMethod
from lib.paths.gaussian import SCHEDULES


class BitsPerDimParams(Section):
    schedule: Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]  # which train_flow model
    n_images: PositiveInt  # the first test images; both divergences on the same images
    method: OdeMethod
    n_steps: PositiveInt
    tight_n_steps: PositiveInt  # a finer solve (Hutchinson, same probes) bounds the solver error
    n_probes: PositiveInt  # Hutchinson probes per solve
    n_repeats: PositiveInt  # Hutchinson solves per image (>= 2: the estimator's spread)
    batch_size: PositiveInt


class MetricsParams(Section):
    seed: Seed
    bits_per_dim: BitsPerDimParams


SCHEMA = MetricsParams
