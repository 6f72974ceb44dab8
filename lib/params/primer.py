"""Params of the primer stage: solvers, Brownian motion, Ornstein–Uhlenbeck, Langevin."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.sde.solvers import ODE_STEPS


class BrownianParams(Section):
    sigmas: list[PositiveFloat] = Field(min_length=1)
    t_end: PositiveFloat
    n_steps: PositiveInt
    n_paths_plot: PositiveInt
    n_paths_stats: Annotated[int, Field(ge=100)]


class OUParams(Section):
    thetas: list[PositiveFloat] = Field(min_length=1)
    stationary_variance: PositiveFloat  # sigma = sqrt(2 theta D) keeps D = sigma^2 / (2 theta)
    x0s: list[float] = Field(min_length=1)
    t_end: PositiveFloat
    n_steps: PositiveInt
    n_paths_plot: PositiveInt
    n_paths_stats: Annotated[int, Field(ge=100)]


class LangevinParams(Section):
    means: list[float] = Field(min_length=1)
    stds: list[PositiveFloat] = Field(min_length=1)
    weights: list[PositiveFloat] = Field(min_length=1)
    sigma: PositiveFloat
    x0: float
    t_end: PositiveFloat
    n_steps: PositiveInt
    n_particles: Annotated[int, Field(ge=100)]
    n_snapshots: Annotated[int, Field(ge=2)]
    n_exact_draws: Annotated[int, Field(ge=2)] = 50  # exact samples that give the floor's spread

    @model_validator(mode="after")
    def _same_lengths(self):
        if not len(self.means) == len(self.stds) == len(self.weights):
            raise ValueError(
                f"means, stds and weights must have the same length, got "
                f"{len(self.means)}, {len(self.stds)}, {len(self.weights)}"
            )
        return self


class SolverParams(Section):
    methods: list[Literal[tuple(ODE_STEPS)]] = Field(min_length=1)  # type: ignore[valid-type]
    n_steps: list[PositiveInt] = Field(min_length=2)


class PrimerParams(Section):
    seed: Seed
    solvers: SolverParams
    brownian: BrownianParams
    ou: OUParams
    langevin: LangevinParams


SCHEMA = PrimerParams
