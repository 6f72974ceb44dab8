"""Property tests of the params schemas: any numeric value of the default params.yaml replaced by
a value no schema may accept, or any unknown key added to any section, is refused with a
ParamsError naming the dotted key (`stage.key = value`)."""

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.params import ParamsError, stages, validate_section

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# Numeric keys that legitimately accept null (no EMA).
NULLABLE = {"ema_decay"}
# Counts n_* that legitimately accept 0 (no Fourier time features, no bottleneck blocks).
ZERO_ALLOWED_COUNTS = {"n_freq", "n_bottleneck"}
# Mappings keyed by free names (variants, networks) or by solver (sample.ode): a new key there is
# a new entry, checked as one, not an unknown key.
FREE_MAPPINGS = {("flow2d", "variants"), ("ode_fit", "networks"), ("sample", "ode")}


def _walk(node, path=()):
    """(path, value) for every node under a section: mappings by key, lists by index."""
    yield path, node
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            yield from _walk(child, (*path, key))


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


NUMERIC_LEAVES = [
    (stage, path) for stage in stages() for path, value in _walk(PARAMS[stage]) if _is_number(value)
]
MAPPINGS = [
    (stage, path)
    for stage in stages()
    for path, value in _walk(PARAMS[stage])
    if isinstance(value, dict) and (stage, *path) not in FREE_MAPPINGS
]


def _name(path) -> str:
    """The key a value belongs to: the last string in its path (lists are indexed by int)."""
    return next(str(p) for p in reversed(path) if isinstance(p, str))


def _dotted(stage, path) -> str:
    return ".".join([stage, *(str(p) for p in path)])


def _refused(stage, path, value) -> str:
    """Set the value at path in a copy of the default section; the validation error's text."""
    section = copy.deepcopy(PARAMS[stage])
    node = section
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ParamsError) as info:
        validate_section(stage, section)
    return str(info.value)


def _assert_refused_by_name(stage, path, value) -> None:
    msg = _refused(stage, path, value)
    assert f"{_dotted(stage, path)} = {value!r}:" in msg, msg


def test_the_walk_finds_every_stage_and_the_known_counts():
    """Guards the strategies below against an empty or partial walk."""
    assert {stage for stage, _ in MAPPINGS} == set(stages())
    assert ("primer", ("ou", "n_steps")) in NUMERIC_LEAVES
    assert ("primer", ("solvers", "n_steps", 0)) in NUMERIC_LEAVES
    assert ("train_flow", ("unet", "n_bottleneck")) in COUNT_LEAVES
    for stage, *path in FREE_MAPPINGS:  # each still a mapping of the default params
        node = PARAMS[stage]
        for key in path:
            node = node[key]
        assert isinstance(node, dict) and node, (stage, path)


@st.composite
def bad_numbers(draw):
    """(stage, path, value): a numeric leaf and a value its schema must refuse whatever its
    bounds: a string, a bool, a list or a mapping; null unless the key is NULLABLE."""
    stage, path = draw(st.sampled_from(NUMERIC_LEAVES))
    name = _name(path)
    options = [
        st.text(max_size=8),
        st.booleans(),
        st.lists(st.integers(0, 10), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ]
    if name not in NULLABLE:
        options.append(st.none())
    return stage, path, draw(st.one_of(options))


@SETTINGS
@given(bad_numbers())
def test_bad_numeric_value_is_refused_by_name(case):
    _assert_refused_by_name(*case)


COUNT_LEAVES = [(stage, path) for stage, path in NUMERIC_LEAVES if _name(path).startswith("n_")]


@st.composite
def bad_counts(draw):
    """(stage, path, value): a count n_* and a negative value, or 0 unless the count may be 0."""
    stage, path = draw(st.sampled_from(COUNT_LEAVES))
    top = -1 if _name(path) in ZERO_ALLOWED_COUNTS else 0
    return stage, path, draw(st.integers(-1000, top))


@SETTINGS
@given(bad_counts())
def test_non_positive_count_is_refused_by_name(case):
    _assert_refused_by_name(*case)


@SETTINGS
@given(
    st.sampled_from(MAPPINGS),
    st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
    st.one_of(st.integers(), st.text(max_size=5), st.none()),
)
def test_unknown_key_is_refused_by_name(mapping, key, value):
    stage, path = mapping
    node = PARAMS[stage]
    for p in path:
        node = node[p]
    if key in node:  # a known key: not this property
        key = f"{key}_unknown"
    msg = _refused(stage, (*path, key), value)
    assert f"{_dotted(stage, (*path, key))} = {value!r}: unknown key" in msg, msg
