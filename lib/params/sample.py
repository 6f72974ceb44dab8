"""Params of the sample stage: ODE and SDE samplers of the image models, scored on the yardstick
(KID with standard errors, FID, precision / recall) against held-out real images."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.params._choices import OdeMethod
from lib.paths.schedules import SCHEDULES
from lib.sde.adaptive_solver import ADAPTIVE_METHODS
from lib.sde.samplers import DIFFUSIONS

Schedule = Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]
Steps = list[PositiveInt]


class SdeSweepParams(Section):
    sigma: Annotated[float, Field(gt=0)]  # one of sde.sigmas
    n_steps: Steps = Field(min_length=1)  # further step counts: KID vs NFE of the SDE


class SdeParams(Section):
    sigmas: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    n_steps: PositiveInt  # Euler–Maruyama steps (2 function evaluations each)
    diffusion: Literal[tuple(DIFFUSIONS)]  # type: ignore[valid-type]
    sweep: SdeSweepParams | None  # null: the SDE at n_steps only

    @model_validator(mode="after")
    def _check(self):
        if len(set(self.sigmas)) != len(self.sigmas):
            raise ValueError(f"sigmas must be distinct, got {self.sigmas}")
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


class ExactParams(Section):
    method: Literal[tuple(ADAPTIVE_METHODS)]  # type: ignore[valid-type]
    rtol: PositiveFloat
    atol: PositiveFloat


class YardstickParams(Section):
    n_reference: PositiveInt  # held-out real images in the reference set; the rest of the
    # held-out pool (validation + test splits) is the real comparison set
    n_groups: Annotated[int, Field(ge=2)]  # jackknife groups of the KID standard error
    k: PositiveInt  # neighbours of the precision / recall radii
    level: Annotated[float, Field(gt=0, lt=1)]  # of every confidence interval
    noise_sigmas: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)  # calibration:
    # KID of real training images with Gaussian pixel noise of each sigma (model scale)


class GridParams(Section):
    n_images: PositiveInt  # images per sample grid
    nfe: PositiveInt  # each ODE sampler's grid shows its run with the NFE closest to this


class TransferSampleParams(Section):
    n_images: PositiveInt  # test images of the source class pushed through the flow
    method: OdeMethod
    n_steps: PositiveInt


class InceptionParams(Section):
    weights: str  # a local file of torch-fidelity's FID Inception weights; never downloaded
    batch_size: PositiveInt


class SampleParams(Section):
    seed: Seed
    schedules: list[Schedule] = Field(min_length=1)  # each needs train_flow and train_score models
    n_images: PositiveInt  # generated images per sampler run, all from the same noise
    batch_size: PositiveInt  # images integrated at once
    yardstick: YardstickParams
    exact: ExactParams  # the same-noise exact ODE solution every ODE sampler is measured against
    fast_nfe: PositiveInt  # the "fast sampler" budget compared with the exact solution
    ode: dict[OdeMethod, Steps]  # steps per ODE sampler: KID vs NFE
    sde: SdeParams
    grid: GridParams
    transfer: TransferSampleParams | None  # null: no class-to-class samples
    inception: InceptionParams | None  # null: classifier features only

    @model_validator(mode="after")
    def _check(self):
        if len(set(self.schedules)) != len(self.schedules):
            raise ValueError(f"schedules must be distinct, got {self.schedules}")
        for method, steps in self.ode.items():
            if not steps or len(set(steps)) != len(steps):
                raise ValueError(f"ode.{method}: give distinct step counts, got {steps}")
        y = self.yardstick
        if self.n_images < y.n_groups:
            raise ValueError(
                f"n_images = {self.n_images} must be at least yardstick.n_groups = {y.n_groups}"
            )
        return self


SCHEMA = SampleParams
