"""Params of the sample_score_sde stage: the predictor / corrector table of Song et al. (2021,
Table 1) for the VE and VP models, scored on the sample stage's yardstick, and their bits/dim."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.params._choices import OdeMethod
from lib.sde.adaptive_solver import ADAPTIVE_METHODS

Predictor = Literal["euler_maruyama", "reverse_diffusion", "ancestral_sampling", "probability_flow"]
Unit = Annotated[float, Field(gt=0, lt=1)]


class PerSde(Section):
    ve: PositiveFloat
    vp: PositiveFloat


class StopParams(Section):
    """Sampling and likelihoods stop at t = 1 - eps, short of the data end (Song et al.)."""

    ve: Unit
    vp: Unit


class AdaptiveParams(Section):
    method: Literal[tuple(ADAPTIVE_METHODS)]  # type: ignore[valid-type]
    rtol: PositiveFloat
    atol: PositiveFloat


class BitsParams(Section):
    seed: Seed  # the dequantization draws and probes (bits_per_dim.seed: the same draws)
    n_images: PositiveInt  # the first test images
    method: OdeMethod
    n_steps: PositiveInt
    n_probes: PositiveInt  # Hutchinson probes per solve
    n_repeats: Annotated[int, Field(ge=2)]  # Hutchinson solves per image: >= 2 for its spread
    batch_size: PositiveInt


class SampleScoreSdeParams(Section):
    seeds: list[Seed] = Field(min_length=1)  # sampling seeds; each cell pools their images
    n_images: PositiveInt  # per seed and cell, all cells of a seed from the same prior draw
    batch_size: PositiveInt  # images integrated at once
    n_steps: PositiveInt  # N: the table's P N, P 2N, C 2N and PC N (the paper's N = 1000)
    predictors: list[Predictor] = Field(min_length=1)  # the table's rows for each SDE
    snr: PerSde  # the Langevin corrector's signal-to-noise ratio r
    eps: StopParams
    denoise: bool  # the last step returns its noise-free mean
    adaptive: AdaptiveParams  # the probability-flow ODE by an adaptive solver (NFE measured)
    grid_n_images: PositiveInt  # images per cell in the sample grids
    bits_per_dim: BitsParams

    @model_validator(mode="after")
    def _check(self):
        for key in ("seeds", "predictors"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ValueError(f"{key} must be distinct, got {values}")
        if self.grid_n_images > self.n_images:
            raise ValueError(
                f"grid_n_images = {self.grid_n_images} must be at most n_images = {self.n_images}"
            )
        return self


SCHEMA = SampleScoreSdeParams
