"""The Welch comparison over seeds against hand-computed intervals."""

import math

import pytest
import scipy.stats

from lib.metrics.over_seeds import compare_over_seeds, compare_to_value


def test_welch_interval_by_hand():
    """a: mean 1, sd 0.3, n 3; b: mean 0.5, sd 0.1, n 4. se^2 = 0.09/3 + 0.01/4 = 0.0325;
    dof = 0.0325^2 / (0.03^2 / 2 + 0.0025^2 / 3) = 2.33..."""
    a, b = {"mean": 1.0, "sd": 0.3, "n": 3}, {"mean": 0.5, "sd": 0.1, "n": 4}
    out = compare_over_seeds(a, b)
    dof = 0.0325**2 / (0.03**2 / 2 + 0.0025**2 / 3)
    half = scipy.stats.t.ppf(0.975, dof) * math.sqrt(0.0325)
    assert out["dof"] == pytest.approx(dof, rel=1e-12)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((0.5 - half, 0.5 + half), rel=1e-12)
    assert out["verdict"] == "not resolved" and out["reason"] == "interval includes 0"  # half 0.73
    narrow = compare_over_seeds({**a, "sd": 0.01}, {**b, "sd": 0.01})
    assert narrow["verdict"] == "higher" and narrow["ci_low"] > 0
    assert compare_over_seeds({**b, "sd": 0.01}, {**a, "sd": 0.01})["verdict"] == "lower"


def test_one_seed_or_no_spread_is_never_a_verdict():
    one = {"mean": 0.0, "sd": 0.0, "n": 1}
    many = {"mean": 5.0, "sd": 0.1, "n": 3}
    out = compare_over_seeds(one, many)
    assert out["verdict"] == "not resolved" and out["reason"] == "1 seed"
    assert out["difference"] == -5.0 and out["ci_low"] is None
    flat = compare_over_seeds({"mean": 1.0, "sd": 0.0, "n": 3}, {"mean": 2.0, "sd": 0.0, "n": 3})
    assert flat["verdict"] == "not resolved" and flat["reason"] == "no spread over seeds"


def test_a_lower_level_resolves_more():
    a, b = {"mean": 1.0, "sd": 0.3, "n": 5}, {"mean": 0.6, "sd": 0.3, "n": 5}
    assert compare_over_seeds(a, b, 0.8)["verdict"] == "higher"  # t = 2.11 on 8 dof
    assert compare_over_seeds(a, b, 0.95)["verdict"] == "not resolved"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="level must be in"):
        compare_over_seeds({"mean": 0, "sd": 0, "n": 2}, {"mean": 0, "sd": 0, "n": 2}, 1.0)
    with pytest.raises(
        ValueError, match=r"b must have mean, sd and n over seeds, got keys \['mean'\]"
    ):
        compare_over_seeds({"mean": 0, "sd": 0, "n": 2}, {"mean": 0})


def test_against_a_fixed_value_is_the_one_sample_t_interval():
    a = {"mean": -2.12, "sd": 0.0075, "n": 3}
    c = compare_to_value(a, -2.1153)
    half = scipy.stats.t.ppf(0.975, 2) * 0.0075 / math.sqrt(3)
    assert c["difference"] == pytest.approx(-2.12 + 2.1153)
    assert c["ci_low"] == pytest.approx(c["difference"] - half)
    assert c["ci_high"] == pytest.approx(c["difference"] + half)
    assert c["dof"] == pytest.approx(2)
    assert c["verdict"] == "not resolved"  # a 0.0047 gap within a seed sd of 0.0075
    far = compare_to_value({"mean": -2.2, "sd": 0.0075, "n": 3}, -2.1153)
    assert far["verdict"] == "lower"
    assert compare_to_value({"mean": -2.2, "sd": 0.0, "n": 1}, -2.0)["reason"] == "1 seed"
