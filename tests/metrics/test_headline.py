"""Headline numbers: gathered from each stage's metrics file, nested on their dots."""

import json

import pytest

from lib.metrics.headline import HEADLINES, gather, lookup, nest


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


def test_lookup_follows_dotted_keys():
    metrics = {"a": {"b": {"c": 1.5, "d": None}, "e": [1, 2]}, "f": 0}
    assert lookup(metrics, "a.b.c") == 1.5
    assert lookup(metrics, "a.b.d") is None  # present, even if null
    assert lookup(metrics, "a.e") == [1, 2]
    assert lookup(metrics, "a.b") == {"c": 1.5, "d": None}
    assert lookup(metrics, "f") == 0


@pytest.mark.parametrize(
    ("dotted", "part"),
    [("x", "x"), ("a.x", "x"), ("a.b.x", "x"), ("f.g", "g"), ("a.e.0", "0")],
)
def test_lookup_missing_names_the_key_and_the_missing_part(dotted, part):
    metrics = {"a": {"b": {"c": 1.5}, "e": [1, 2]}, "f": 0}
    with pytest.raises(KeyError) as exc:
        lookup(metrics, dotted)
    assert exc.value.args[0] == f"{dotted!r} (no {part!r})"


def test_nest_several_levels_keeps_order_and_input():
    flat = {"a.b.c": 1, "a.b.d": 2, "a.e": 3, "f": 4, "a.b.g.h": 5}
    copy = dict(flat)
    out = nest(flat)
    assert out == {"a": {"b": {"c": 1, "d": 2, "g": {"h": 5}}, "e": 3}, "f": 4}
    assert list(out) == ["a", "f"] and list(out["a"]["b"]) == ["c", "d", "g"]
    assert flat == copy


def test_nest_refuses_a_key_that_is_a_prefix_of_another():
    """A value cannot also hold a subtree: either order is refused, naming the later key."""
    with pytest.raises(ValueError, match="keys clash: 'a.b' needs a subtree"):
        nest({"a": 1, "a.b": 2})
    with pytest.raises(ValueError, match="keys clash: 'a' would replace"):
        nest({"a.b": 2, "a": 1})


def test_no_headline_key_is_a_prefix_of_another():
    """nest would lose one of the two (or fail) if "x.y" and "x.y.z" were both headlines."""
    keys = sorted(HEADLINES)
    clashes = [(a, b) for a in keys for b in keys if b.startswith(a + ".")]
    assert clashes == []


def _write_stage_metrics(results, headlines):
    """Each stage's metrics.json holding a distinct value at every dotted key the table names,
    plus the run record and a key no headline reads; returns the expected gathered headlines."""
    by_stage: dict[str, dict] = {}
    expected = {}
    for k, (key, (stage, dotted)) in enumerate(headlines.items()):
        by_stage.setdefault(stage, {})[dotted] = 1000 + k
        expected[key] = 1000 + k
    for stage, flat in by_stage.items():
        metrics = {**nest(flat), "run": {"device": "cpu"}, "unread_extra": -1}
        (results / stage).mkdir(parents=True)
        (results / stage / "metrics.json").write_text(json.dumps(metrics))
    return nest(expected)


def test_gather_two_stages_gives_exactly_their_headlines(tmp_path):
    two = {k: v for k, v in HEADLINES.items() if v[0] in ("primer", "flow2d")}
    assert {v[0] for v in two.values()} == {"primer", "flow2d"}
    expected = _write_stage_metrics(tmp_path, two)
    out = gather(tmp_path, two)
    assert out == expected
    assert set(out) == {"primer", "two_d"}


def test_gather_the_whole_table(tmp_path):
    expected = _write_stage_metrics(tmp_path, HEADLINES)
    (tmp_path / "not_a_headline_stage").mkdir()  # other stages' files are not read
    (tmp_path / "not_a_headline_stage" / "metrics.json").write_text("not json")
    assert gather(tmp_path) == expected
