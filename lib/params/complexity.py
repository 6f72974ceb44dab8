"""Params of the complexity stage: measured cost of the 1D objectives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lib.params import PositiveInt, Section, Seed
from lib.sde.solvers import ODE_STEPS


class ComplexityParams(Section):
    seed: Seed
    n_steps: list[PositiveInt] = Field(min_length=2)
    methods: list[Literal[tuple(ODE_STEPS)]] = Field(min_length=1)  # type: ignore[valid-type]
    batch_size: PositiveInt
    hidden: list[PositiveInt] = Field(min_length=1)
    repeats: PositiveInt
    elbo_eval_draws: PositiveInt  # draws per point of the test ELBO (sde_fit.eval.n_samples)


SCHEMA = ComplexityParams
