"""Toy dataset splits: deterministic for a seed, expected log-likelihoods as the reference."""

import math

import numpy as np
import pytest
import torch

from lib.data.toy import (
    DATASETS_1D,
    DATASETS_2D,
    expected_log_likelihood,
    make_splits,
    negative_entropy_1d,
)
from lib.infra.io import load_npz, save_npz


@pytest.mark.parametrize("name", [*DATASETS_1D, *DATASETS_2D])
def test_splits_deterministic_for_a_seed(name):
    a = make_splits(name, 50, 20, 30, seed=3)
    b = make_splits(name, 50, 20, 30, seed=3)
    c = make_splits(name, 50, 20, 30, seed=4)
    assert a.train.shape[0] == 50 and a.val.shape[0] == 20 and a.test.shape[0] == 30
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split), getattr(b, split))
    assert not torch.equal(a.train, c.train)
    assert not torch.equal(a.train[:20], a.val)


@pytest.mark.parametrize("name", [*DATASETS_1D, *DATASETS_2D])
def test_splits_share_no_rows(name):
    """Continuous draws: any row found in two splits means the splits overlap. Every row of each
    split is compared (not a prefix), at the sizes of the default params."""
    s = make_splits(name, 2000, 500, 500, seed=0)
    rows = {
        split: {tuple(r) for r in getattr(s, split).tolist()} for split in ("train", "val", "test")
    }
    assert [len(r) for r in rows.values()] == [2000, 500, 500]  # no repeats inside a split
    assert rows["train"].isdisjoint(rows["val"]) and rows["train"].isdisjoint(rows["test"])
    assert rows["val"].isdisjoint(rows["test"])


def test_reference_true_expected_log_likelihoods():
    """The course's values: about -2.112 (Gaussian) and -2.987 (Laplace mixture) nats."""
    assert negative_entropy_1d("gaussian") == pytest.approx(-2.1121, abs=1e-4)
    assert negative_entropy_1d("laplace_mixture") == pytest.approx(-2.9876, abs=1e-3)
    for name, truth in [("gaussian", -2.112), ("laplace_mixture", -2.987)]:
        ell = expected_log_likelihood(name, make_splits(name, 10, 10, 10_000, seed=0).test)
        assert abs(ell.mean - truth) < 4 * ell.stderr + 1e-3


def test_moons_has_no_expected_log_likelihood():
    assert expected_log_likelihood("moons", torch.zeros(3, 2)) is None


def test_unknown_dataset():
    with pytest.raises(ValueError, match="allowed"):
        make_splits("cauchy", 1, 1, 1, 0)


def test_save_npz_is_byte_identical_and_round_trips(tmp_path):
    arrays = {"train": np.arange(12.0).reshape(6, 2), "labels": np.arange(6)}
    save_npz(tmp_path / "a.npz", **arrays)
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_npz(tmp_path / "a.npz")
    assert all(np.array_equal(loaded[k], v) for k, v in arrays.items())
    assert not list(tmp_path.glob(".*.tmp"))


def test_expected_log_likelihood_of_five_points_by_hand():
    """ "gaussian" is N(-1, 2^2): log p(y) = -((y + 1) / 2)^2 / 2 - log 2 - log(2 pi) / 2. At
    y + 1 = 0, 2, -2, 4, -4 the quadratic parts are 0, -0.5, -0.5, -2, -2 (mean -1), so the mean is
    -1 - log 2 - log(2 pi) / 2 and the stderr sd(log p) / sqrt 5 with the n - 1 variance
    (1 + 0.25 + 0.25 + 1 + 1) / 4 = 0.875 (ddof 0 would give 0.7)."""
    y = torch.tensor([[-1.0], [1.0], [-3.0], [3.0], [-5.0]])
    ell = expected_log_likelihood("gaussian", y)
    assert ell.mean == pytest.approx(-1 - math.log(2) - 0.5 * math.log(2 * math.pi), abs=1e-6)
    assert ell.stderr == pytest.approx(math.sqrt(0.875 / 5), abs=1e-7)
