"""Params of the flow2d stage: 2D flow matching, score matching and SDE sampling."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from lib.data.toy import DATASETS_2D, DATASETS_WITH_DENSITY
from lib.flows.flow_matching import COUPLINGS
from lib.flows.score_matching import LOSSES as SCORE_LOSSES
from lib.params import PositiveFloat, PositiveInt, Section, Seed
from lib.params._choices import NetworkParams, OdeMethod
from lib.paths.schedules import SCHEDULES

Schedule = Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]
Dataset2D = Literal[tuple(DATASETS_2D)]  # type: ignore[valid-type]
UnitFloat = Annotated[float, Field(ge=0, le=1)]


class CorruptionParams(Section):
    schedules: list[Schedule] = Field(min_length=1)
    n_points: PositiveInt
    times: list[UnitFloat] = Field(min_length=2)


class FinetuneParams(Section):
    n_iters: PositiveInt
    lr: PositiveFloat
    batch_size: PositiveInt
    n_steps: PositiveInt  # rk4 steps of the training log-likelihood
    eval_every: PositiveInt  # validation log-likelihood (rk4, val_n_steps): the best is kept
    val_n_steps: PositiveInt


class FlowVariantParams(Section):
    seeds: list[Seed] | None = Field(None, min_length=1)  # None: flow2d.seeds
    schedule: Schedule
    coupling: Literal[tuple(COUPLINGS)]  # type: ignore[valid-type]
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    lr_schedule: Literal["constant", "cosine"]
    ema_decay: Annotated[float, Field(ge=0, lt=1)] | None
    finetune: FinetuneParams | None = None  # exact maximum likelihood after flow matching


class Flow2dEvalParams(Section):
    n_test: PositiveInt  # test points for the log-likelihood and the sample distances
    ll_n_steps: PositiveInt  # rk4 steps of the log-likelihood
    tight_n_steps: PositiveInt  # rk4 steps of the reference solve that checks its accuracy
    n_samples: PositiveInt  # generated points per sample distance
    sample_method: OdeMethod
    sample_n_steps: PositiveInt
    n_plot: PositiveInt  # points of the path-vs-generated scatter and the trajectories
    plot_method: OdeMethod
    plot_n_steps: PositiveInt
    sweep_methods: list[OdeMethod] = Field(min_length=1)
    sweep_n_steps: list[PositiveInt] = Field(min_length=2)


class ScoreParams(Section):
    loss: Literal[tuple(SCORE_LOSSES)]  # type: ignore[valid-type]
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    sigmas: list[Annotated[float, Field(ge=0)]] = Field(min_length=2)
    n_steps: PositiveInt  # Euler–Maruyama steps


class Flow2dParams(Section):
    dataset: Dataset2D
    seeds: list[Seed] = Field(min_length=1)
    network: NetworkParams
    corruption: CorruptionParams
    variants: dict[str, FlowVariantParams] = Field(min_length=1)
    main_variant: str
    eval: Flow2dEvalParams
    score: ScoreParams

    @model_validator(mode="after")
    def _checks(self):
        if self.main_variant not in self.variants:
            raise ValueError(
                f"main_variant {self.main_variant!r} is not one of variants {list(self.variants)}"
            )
        if self.variants[self.main_variant].seeds not in (None, self.seeds):
            raise ValueError(
                f"the main variant {self.main_variant!r} runs on flow2d.seeds {self.seeds}: "
                "leave its seeds null"
            )
        if self.dataset not in DATASETS_WITH_DENSITY:
            raise ValueError(
                f"dataset {self.dataset!r} has no exact density (log-likelihoods need one); "
                f"allowed: {sorted(DATASETS_WITH_DENSITY)}"
            )
        return self


SCHEMA = Flow2dParams
