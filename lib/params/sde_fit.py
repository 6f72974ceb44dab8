"""Params of the sde_fit stage: 1D SDE models fitted by the ELBO."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.params import PositiveFloat, PositiveInt, Section, Seed, TrainParams
from lib.params._choices import Datasets1D, NetworkParams


class SdeModelParams(NetworkParams):
    sigma_mode: Literal["learned", "constant"]
    sigma_value: PositiveFloat  # the constant sigma, or its initial value when learned
    beta_lik_mode: Literal["fixed", "learned"]
    beta_lik_value: PositiveFloat  # the fixed beta_lik, or its initial value when learned


class SdeTrainParams(TrainParams):
    n_eval_samples: Annotated[int, Field(ge=2)]  # MC draws per validation point


class SdeEvalParams(Section):
    n_samples: Annotated[int, Field(ge=2)]  # MC draws per test point for the test ELBO
    n_objective_batches: Annotated[int, Field(ge=2)]
    n_sde_steps: PositiveInt  # Euler–Maruyama steps for sample paths and the density plot
    n_density_samples: PositiveInt


class SdeFitParams(Section):
    datasets: Datasets1D = Field(min_length=1)
    seeds: list[Seed] = Field(min_length=1)
    model: SdeModelParams
    train: SdeTrainParams
    eval: SdeEvalParams


SCHEMA = SdeFitParams
