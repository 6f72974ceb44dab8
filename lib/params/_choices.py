"""Params types whose allowed values come from lib modules: imported only by the schemas that
use them, so a stage depends on those modules only when it reads such a key."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.data.toy import DATASETS_1D
from lib.nets.mlp import ACTIVATIONS
from lib.params import PositiveInt, Section
from lib.sde.solvers import ODE_STEPS

OdeMethod = Literal[tuple(ODE_STEPS)]  # type: ignore[valid-type]
Datasets1D = list[Literal[tuple(DATASETS_1D)]]  # type: ignore[valid-type]


class NetworkParams(Section):
    hidden: list[PositiveInt] = Field(min_length=1)
    activation: Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
    n_freq: Annotated[int, Field(ge=0)]  # Fourier time features (0: t itself)
