"""Params of the sample stage: ODE and SDE samplers of the image models, FID vs NFE."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.params import OdeMethod, PositiveInt, Section, Seed
from lib.paths import SCHEDULES
from lib.samplers import DIFFUSIONS

Schedule = Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]
Steps = list[PositiveInt]


class SdeSweepParams(Section):
    sigma: Annotated[float, Field(gt=0)]  # one of sde.sigmas
    n_steps: Steps = Field(min_length=1)  # further step counts: FID vs NFE of the SDE


class SdeParams(Section):
    sigmas: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    n_steps: PositiveInt  # Euler–Maruyama steps (2 function evaluations each)
    diffusion: Literal[tuple(DIFFUSIONS)]  # type: ignore[valid-type]
    sweep: SdeSweepParams | None  # null: the SDE at n_steps only

    @model_validator(mode="after")
    def _check(self):
        w = self.sweep
        if w is None:
            return self
        if w.sigma not in self.sigmas:
            raise ValueError(f"sweep.sigma = {w.sigma} is not one of sigmas {self.sigmas}")
        if len(set(w.n_steps)) != len(w.n_steps) or self.n_steps in w.n_steps:
            raise ValueError(
                f"sweep.n_steps = {w.n_steps}: give distinct step counts other than "
                f"n_steps = {self.n_steps} (that run is already made)"
            )
        return self


class GridParams(Section):
    n_images: PositiveInt  # images per sample grid
    nfe: PositiveInt  # each ODE sampler's grid shows its run with the NFE closest to this


class TransferSampleParams(Section):
    n_images: PositiveInt  # test images of the source class pushed through the flow
    method: OdeMethod
    n_steps: PositiveInt


class SampleParams(Section):
    seed: Seed
    schedules: list[Schedule] = Field(min_length=1)  # each needs train_flow and train_score models
    n_images: PositiveInt  # per FID; the real reference and floor sets are as large
    n_floor: PositiveInt  # real sets averaged into the real-vs-real floor
    reference_steps: PositiveInt  # Euler steps of each schedule's reference FID
    fast_nfe: PositiveInt  # the "fast sampler" budget compared with the reference
    ode: dict[OdeMethod, Steps]  # steps per ODE sampler: FID vs NFE
    sde: SdeParams
    grid: GridParams
    transfer: TransferSampleParams | None  # null: no class-to-class samples

    @model_validator(mode="after")
    def _check(self):
        if len(set(self.schedules)) != len(self.schedules):
            raise ValueError(f"schedules must be distinct, got {self.schedules}")
        for method, steps in self.ode.items():
            if not steps or len(set(steps)) != len(steps):
                raise ValueError(f"ode.{method}: give distinct step counts, got {steps}")
        return self


SCHEMA = SampleParams
