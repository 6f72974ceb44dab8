"""Validated params: one strict schema per stage section of params.yaml.

Unknown keys, wrong types and impossible values raise `ParamsError` naming the key, the value
and what is allowed, before a stage does any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lib.data import DATASETS_1D, DATASETS_2D, DATASETS_WITH_DENSITY
from lib.flow_matching import COUPLINGS
from lib.image_data import IMAGE_DATASETS
from lib.nets import ACTIVATIONS
from lib.paths import SCHEDULES
from lib.score_matching import LOSSES as SCORE_LOSSES
from lib.solvers import ODE_STEPS

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Seed = Annotated[int, Field(ge=0)]


class ParamsError(ValueError):
    """A params.yaml problem, with a message a user can act on."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- primer ---------------------------------------------------------------------------------


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


# --- data -----------------------------------------------------------------------------------


class Splits(Section):
    n_train: PositiveInt
    n_val: PositiveInt
    n_test: PositiveInt


class OneDParams(Splits):
    datasets: list[Literal[tuple(DATASETS_1D)]] = Field(min_length=1)  # type: ignore[valid-type]


class TwoDParams(Splits):
    datasets: list[Literal[tuple(DATASETS_2D)]] = Field(min_length=1)  # type: ignore[valid-type]


class ImageParams(Section):
    dataset: Literal[IMAGE_DATASETS]  # type: ignore[valid-type]
    root: str | None
    download: bool
    n_val: PositiveInt
    n_test: PositiveInt
    max_train: PositiveInt | None

    @model_validator(mode="after")
    def _root_for_torchvision(self):
        if self.dataset != "digits" and self.root is None:
            raise ValueError(
                f"dataset {self.dataset!r} is read through torchvision and needs `root` "
                "(a folder holding it, or where to download it with download: true)"
            )
        return self


class DataParams(Section):
    seed: Seed
    one_d: OneDParams
    two_d: TwoDParams
    images: ImageParams


# --- ode_fit / sde_fit --------------------------------------------------------------------


class NetworkParams(Section):
    hidden: list[PositiveInt] = Field(min_length=1)
    activation: Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
    n_freq: Annotated[int, Field(ge=0)]  # Fourier time features (0: t itself)


class CnfNetworkParams(NetworkParams):
    standardize: bool  # the flow acts on (y - mean) / sd of the training data (exact log-det)


class TrainParams(Section):
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    eval_every: PositiveInt


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


Datasets1D = list[Literal[tuple(DATASETS_1D)]]  # type: ignore[valid-type]


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


# --- complexity -----------------------------------------------------------------------------


class ComplexityParams(Section):
    seed: Seed
    n_steps: list[PositiveInt] = Field(min_length=2)
    methods: list[Literal[tuple(ODE_STEPS)]] = Field(min_length=1)  # type: ignore[valid-type]
    batch_size: PositiveInt
    hidden: list[PositiveInt] = Field(min_length=1)
    repeats: PositiveInt


# --- flow2d ---------------------------------------------------------------------------------

Schedule = Literal[tuple(SCHEDULES)]  # type: ignore[valid-type]
OdeMethod = Literal[tuple(ODE_STEPS)]  # type: ignore[valid-type]
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


class TransportParams(Section):
    pairs: list[Annotated[list[Dataset2D], Field(min_length=2, max_length=2)]] = Field(
        min_length=1
    )  # [source, target]
    couplings: list[Literal[tuple(COUPLINGS)]] = Field(min_length=1)  # type: ignore[valid-type]
    seeds: list[Seed] = Field(min_length=1)
    schedule: Schedule
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    sweep_n_steps: list[PositiveInt] = Field(min_length=2)  # Euler steps


class Flow2dParams(Section):
    dataset: Dataset2D
    seeds: list[Seed] = Field(min_length=1)
    network: NetworkParams
    corruption: CorruptionParams
    variants: dict[str, FlowVariantParams] = Field(min_length=1)
    main_variant: str
    eval: Flow2dEvalParams
    score: ScoreParams
    transport: TransportParams

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


# --- report ---------------------------------------------------------------------------------


class ReportParams(Section):
    title: str = Field(min_length=1)
    author: str


SCHEMAS: dict[str, type[Section]] = {
    "primer": PrimerParams,
    "data": DataParams,
    "ode_fit": OdeFitParams,
    "sde_fit": SdeFitParams,
    "complexity": ComplexityParams,
    "flow2d": Flow2dParams,
    "report": ReportParams,
}


def load_params(stage: str, path: str | Path = "params.yaml") -> Section:
    """Read and validate the `stage` section of params.yaml."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the repository root)") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict) or stage not in raw:
        raise ParamsError(f"{path}: missing section {stage!r} (top-level keys must include it)")
    return validate_section(stage, raw[stage], path)


def validate_section(stage: str, section: object, path: str | Path = "params.yaml") -> Section:
    """Validate one section; errors list every bad key as `stage.key = value: what is allowed`."""
    if stage not in SCHEMAS:
        raise ParamsError(f"no params schema for stage {stage!r}; known: {sorted(SCHEMAS)}")
    try:
        return SCHEMAS[stage].model_validate(section)
    except ValidationError as err:
        lines = [f"{path}: invalid params in section {stage!r}:"]
        for e in err.errors():
            key = ".".join([stage, *(str(p) for p in e["loc"])])
            msg = "unknown key (not allowed here)" if e["type"] == "extra_forbidden" else e["msg"]
            value = "<missing>" if e["type"] == "missing" else repr(e["input"])
            lines.append(f"  {key} = {value}: {msg}")
        raise ParamsError("\n".join(lines)) from None
