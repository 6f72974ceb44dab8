"""Params of the transport stage: data-to-data flows between 2D toy data sets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.data.toy import DATASETS_2D
from lib.flows.flow_matching import COUPLINGS
from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.params._choices import NetworkParams
from lib.paths.schedules import SCHEDULES

Dataset2D = Literal[tuple(DATASETS_2D)]  # type: ignore[valid-type]


class TransportParams(Section):
    pairs: list[Annotated[list[Dataset2D], Field(min_length=2, max_length=2)]] = Field(
        min_length=1
    )  # [source, target]
    couplings: list[Literal[tuple(COUPLINGS)]] = Field(min_length=1)  # type: ignore[valid-type]
    seeds: list[Seed] = Field(min_length=1)
    network: NetworkParams  # the velocity model
    schedule: Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    sweep_n_steps: list[PositiveInt] = Field(min_length=2)  # Euler steps
    n_samples: PositiveInt  # source test points carried over, scored against the target's test set
    n_plot: PositiveInt  # trajectories drawn per pair and coupling


SCHEMA = TransportParams
