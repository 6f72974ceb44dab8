"""Params of the ode_fit stage: 1D continuous normalizing flows."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.params import PositiveInt, Section, Seed, TrainParams
from lib.params._choices import Datasets1D, NetworkParams
from lib.sde.solvers import ODE_STEPS


class CnfNetworkParams(NetworkParams):
    standardize: bool  # the flow acts on (y - mean) / sd of the training data (exact log-det)


class OdeTrainParams(TrainParams):
    method: Literal[tuple(ODE_STEPS)]  # type: ignore[valid-type]
    n_steps: PositiveInt
    kinetic_weight: Annotated[float, Field(ge=0)]
    val_n_steps: PositiveInt  # rk4 steps for the validation log-likelihood (model selection)


class OdeEvalParams(Section):
    methods: list[Literal[tuple(ODE_STEPS)]] = Field(min_length=1)  # type: ignore[valid-type]
    n_steps: PositiveInt
    convergence_n_steps: list[PositiveInt] = Field(min_length=2)
    tight_n_steps: PositiveInt
    n_objective_batches: Annotated[int, Field(ge=2)]


class OdeFitParams(Section):
    datasets: Datasets1D = Field(min_length=1)
    seeds: list[Seed] = Field(min_length=1)
    variant_seeds: list[Seed] = Field(min_length=1)
    networks: dict[str, CnfNetworkParams] = Field(min_length=1)
    main_network: str
    train: OdeTrainParams
    eval: OdeEvalParams

    @model_validator(mode="after")
    def _main_is_a_network(self):
        if self.main_network not in self.networks:
            raise ValueError(
                f"main_network {self.main_network!r} is not one of networks {list(self.networks)}"
            )
        return self


SCHEMA = OdeFitParams
