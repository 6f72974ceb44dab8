"""Params of the ddls stage: discriminator-driven latent Langevin sampling of the GAN (Che et al.
2020), scored on the sample stage's yardstick against the plain generator, the flows and the score
SDEs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from lib.params import PositiveFloat, PositiveInt, Section, Seed

Unit = Annotated[float, Field(gt=0, le=1)]


class DdlsParams(Section):
    seed: Seed  # the latent draws z_0 and the chains' noise
    n_images: PositiveInt  # chains, one image each, scored as one set (>= the real set's size)
    batch_size: PositiveInt  # chains run at once
    steps: list[Annotated[int, Field(ge=0)]] = Field(min_length=2)  # k: scored after k steps
    step_sizes: list[PositiveFloat] = Field(min_length=1)  # eps_0 of each chain family
    decay: Unit  # eps_k = eps_0 decay^(k // decay_every)
    noise_scale: PositiveFloat  # s in z <- z - (eps/2) grad E + s sqrt(eps) n: samples exp(-E/s^2)
    decay_every: PositiveInt
    main_step_size: PositiveFloat  # one of step_sizes: the grids, the MALA run, the table
    mala: bool  # a Metropolis-adjusted run at main_step_size, with its acceptance rate
    grid_n_images: PositiveInt

    @model_validator(mode="after")
    def _check(self):
        if sorted(set(self.steps)) != self.steps or self.steps[0] != 0:
            raise ValueError(f"steps must be increasing, distinct and start at 0, got {self.steps}")
        if len(set(self.step_sizes)) != len(self.step_sizes):
            raise ValueError(f"step_sizes must be distinct, got {self.step_sizes}")
        if self.main_step_size not in self.step_sizes:
            raise ValueError(
                f"main_step_size = {self.main_step_size} is not one of step_sizes {self.step_sizes}"
            )
        if self.grid_n_images > self.n_images:
            raise ValueError(
                f"grid_n_images = {self.grid_n_images} must be at most n_images = {self.n_images}"
            )
        return self


SCHEMA = DdlsParams
