"""Validated params: one strict schema per stage section of params.yaml.

Each stage's schema lives in `lib/params/<stage>.py` (a `SCHEMA` class), so editing one stage's
schema changes only the files that stage depends on in dvc.yaml; this module holds what they
share and imports nothing else from lib (types whose allowed values come from lib modules live in
`_choices.py`). Unknown keys, wrong types and impossible values raise `ParamsError` naming the
key, the value and what is allowed, before a stage does any work.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Seed = Annotated[int, Field(ge=0)]


class ParamsError(ValueError):
    """A params.yaml problem, with a message a user can act on."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TrainParams(Section):
    n_iters: PositiveInt
    batch_size: PositiveInt
    lr: PositiveFloat
    eval_every: PositiveInt


def stages() -> list[str]:
    """Every stage with a schema module here."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def schema(stage: str) -> type[Section]:
    """The schema class of `stage` (module lib/params/<stage>.py, attribute SCHEMA)."""
    if stage not in stages():
        raise ParamsError(f"no params schema for stage {stage!r}; known: {stages()}")
    return importlib.import_module(f"{__name__}.{stage}").SCHEMA


def _read(path: Path) -> dict:
    """params.yaml as a dict whose top-level keys are all stage sections."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (run from the repository root)") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: must be a mapping of stage sections; allowed: {stages()}")
    unknown = sorted(str(k) for k in raw if k not in stages())
    if unknown:  # a misspelt section would otherwise be read by no stage, silently
        raise ParamsError(f"{path}: unknown top-level section(s) {unknown}; allowed: {stages()}")
    return raw


def load_params(stage: str, path: str | Path = "params.yaml") -> Section:
    """Read and validate the `stage` section of params.yaml (refusing unknown sections)."""
    path = Path(path)
    raw = _read(path)
    if stage not in raw:
        raise ParamsError(f"{path}: missing section {stage!r} (top-level keys must include it)")
    return validate_section(stage, raw[stage], path)


def load_all(path: str | Path = "params.yaml") -> dict[str, Section]:
    """Every section validated; the errors of all sections are reported together."""
    path = Path(path)
    raw = _read(path)
    missing = [s for s in stages() if s not in raw]
    errors = [f"{path}: missing section {s!r}" for s in missing]
    sections = {}
    for stage in stages():
        if stage in raw:
            try:
                sections[stage] = validate_section(stage, raw[stage], path)
            except ParamsError as err:
                errors.append(str(err))
    if errors:
        raise ParamsError("\n".join(errors))
    return sections


def validate_section(stage: str, section: object, path: str | Path = "params.yaml") -> Section:
    """Validate one section; errors list every bad key as `stage.key = value: what is allowed`."""
    try:
        return schema(stage).model_validate(section)
    except ValidationError as err:
        lines = [f"{path}: invalid params in section {stage!r}:"]
        for e in err.errors():
            key = ".".join([stage, *(str(p) for p in e["loc"])])
            msg = "unknown key (not allowed here)" if e["type"] == "extra_forbidden" else e["msg"]
            value = "<missing>" if e["type"] == "missing" else repr(e["input"])
            lines.append(f"  {key} = {value}: {msg}")
        raise ParamsError("\n".join(lines)) from None
