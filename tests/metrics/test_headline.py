"""Headline numbers: gathered from each stage's metrics file, nested on their dots."""

import json

import pytest

from lib.metrics.headline import HEADLINES, gather, nest


def test_nest_splits_on_dots():
    assert nest({"a.b": 1, "a.c": 2, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}


def test_bits_per_dim_is_gathered_whole_from_its_stage(tmp_path):
    bpd = {
        "dataset": "digits",
        "schedule": "linear",
        "exact": {"bits_per_dim": 1.9, "sem": 0.03},
        "hutchinson": {"bits_per_dim": 1.8, "sem": 0.04},
        "hutchinson_minus_exact": -0.1,
        "solver_error": 0.01,
        "tight_n_steps": 48,
        "run": {"device": "cpu"},
    }
    (tmp_path / "bits_per_dim").mkdir()
    (tmp_path / "bits_per_dim" / "metrics.json").write_text(json.dumps(bpd))
    only = {k: v for k, v in HEADLINES.items() if v[0] == "bits_per_dim"}
    del bpd["run"]  # the stage's run record is not a headline
    assert gather(tmp_path, only) == {"images": {"bits_per_dim": bpd}}


def test_missing_stage_and_key_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the bits_per_dim stage"):
        gather(tmp_path, {"x.y": ("bits_per_dim", "exact")})
    (tmp_path / "bits_per_dim").mkdir()
    (tmp_path / "bits_per_dim" / "metrics.json").write_text(json.dumps({"exact": {}}))
    with pytest.raises(KeyError, match="no 'sem'"):
        gather(tmp_path, {"x.y": ("bits_per_dim", "exact.sem")})
