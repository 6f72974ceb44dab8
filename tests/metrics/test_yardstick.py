"""The yardstick on real digits with a trained classifier: two real sets are not told apart,
growing pixel noise is, step by step; dropping classes costs recall, noise costs precision."""

import numpy as np
import pytest
import torch

from lib.images.classifier import (
    Augmentation,
    Classifier,
    extract_features,
    to_model_scale,
    train_classifier,
)
from lib.metrics.sample_quality import Estimate, fid
from lib.metrics.yardstick import (
    Yardstick,
    calibration,
    compare,
    noisy,
    split_held_out,
    verdict,
)


@pytest.fixture(scope="module")
def stick(digits):
    """A classifier trained 600 steps on the training digits (a few seconds; the stage's recipe
    at a smaller size); the test split is the reference, the validation split the real
    comparison set (neither trained on)."""
    tr = digits.train
    torch.manual_seed(0)
    model = Classifier(1, channels=(16, 32), feature_dim=64, dropout=0.3, batch_norm=True)
    train_classifier(
        model,
        torch.as_tensor(tr.images[:1050]),
        torch.as_tensor(tr.labels[:1050]),
        17,
        to_model_scale(tr.images[1050:], 17),
        torch.as_tensor(tr.labels[1050:]),
        n_iters=600,
        batch_size=64,
        lr=3e-3,
        label_smoothing=0.1,
        generator=torch.Generator().manual_seed(0),
        augmentation=Augmentation(max_shift=1),
        progress=False,
    )

    def features(images):
        return extract_features(model, to_model_scale(images, 17))

    return Yardstick(features, digits.test.images, digits.val.images, n_groups=20, k=3, seed=0)


@pytest.mark.slow
def test_two_real_sets_are_not_told_apart(stick):
    kid = stick.real.kid.estimate()
    low, high = kid.interval()
    assert low < 0 < high, (kid, low, high)
    assert stick.real.n == 300 and stick.n_reference == 300


@pytest.mark.slow
def test_growing_pixel_noise_grows_kid_step_by_step(stick, digits):
    """Training digits (1197, about the default n) with noise of growing sigma, one draw scaled:
    each step raises KID by more than 3 paired standard errors. (Steps below sigma = 0.2, a
    pixel level being 2/17 = 0.12 wide, are not resolved at these sizes: the stage's calibration
    table shows where the yardstick's resolution ends.)"""
    entries = calibration(
        stick, digits.train.images, 17, [0.2, 0.4, 0.8], torch.Generator().manual_seed(0)
    )
    kids = [e["kid"]["value"] for e in entries]
    assert all(a < b for a, b in zip(kids[:-1], kids[1:], strict=True)), kids
    for e in entries[1:]:
        step = e["minus_previous"]
        assert step["value"] > 3 * step["se"], (e["sigma"], step)
        assert step["verdict"] == "higher"


@pytest.mark.slow
def test_dropping_classes_costs_recall_and_noise_costs_precision(stick, digits):
    tr = digits.train
    clean = stick.score(tr.images)
    half = stick.score(tr.images[tr.labels < 5])  # 5 of the 10 digits
    blurred = stick.score(noisy(tr.images, 17, 0.4, torch.randn(tr.images.shape)))
    assert half.recall.value < clean.recall.value - 0.2, (half.recall, clean.recall)
    assert half.precision.value > clean.precision.value - 0.05, (half.precision, clean.precision)
    assert blurred.precision.value < clean.precision.value - 0.2, (
        blurred.precision,
        clean.precision,
    )


def test_noisy_with_zero_sigma_is_the_identity(digits):
    x = digits.test.images[:50]
    assert np.array_equal(noisy(x, 17, 0.0, torch.randn(x.shape)), x)


def test_small_sets_and_verdicts():
    stick = _flat_stick()
    with pytest.raises(ValueError, match="at least the real set's 200 images"):
        stick.score(np.zeros((10, 1, 2, 2), dtype=np.uint8))
    assert verdict(Estimate(-1.0, 0.1, 19)) == "lower"
    assert verdict(Estimate(1.0, 0.1, 19)) == "higher"
    assert verdict(Estimate(0.1, 0.1, 19)) == "not resolved"
    same = compare(stick.real, stick.real)
    assert same["value"] == 0 and same["verdict"] == "not resolved"


def _gaussian_pool(n: int, seed: int = 0) -> np.ndarray:
    """n distinct "images" (n, 1, 2, 2) from one Gaussian law: real data for a feature map that
    flattens them."""
    return np.random.default_rng(seed).normal(size=(n, 1, 2, 2))


def _flatten(images: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float64)


def test_split_held_out_is_disjoint_and_complete():
    pool = _gaussian_pool(600)
    reference, real = split_held_out(pool, 250, seed=3)
    assert len(reference) == 250 and len(real) == 350
    rows = {row.tobytes() for row in pool.reshape(600, -1)}
    r_rows = {row.tobytes() for row in reference.reshape(250, -1)}
    q_rows = {row.tobytes() for row in real.reshape(350, -1)}
    assert r_rows.isdisjoint(q_rows) and r_rows | q_rows == rows
    again, _ = split_held_out(pool, 250, seed=3)
    np.testing.assert_array_equal(again, reference)
    with pytest.raises(ValueError, match="n_reference must be between 1 and"):
        split_held_out(pool, 600, seed=0)


def test_a_perfect_sampler_scores_at_the_real_sets_floor():
    """Held-out real data scored as a "generated" set: its KID interval contains 0 and its paired
    difference to the real comparison set Q is not resolved. A Q sharing images with R would
    score far below 0 (the cross term then holds k(x, x) for the shared images)."""
    pool = _gaussian_pool(900, seed=1)
    reference, real = split_held_out(pool[:600], 300, seed=0)
    stick = Yardstick(_flatten, reference, real, n_groups=20, k=3, seed=0)
    perfect = stick.score(pool[600:])
    for score in (stick.real, perfect):
        low, high = score.kid.estimate().interval()
        assert low < 0 < high, (low, high)
    assert compare(perfect, stick.real)["verdict"] == "not resolved"
    shifted = stick.score(pool[600:] + 0.5)  # and the yardstick does see a real difference
    assert compare(shifted, stick.real)["verdict"] == "higher"


# --- the same yardstick on a feature map with known behaviour (fast: no classifier) ----------


def _levels(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """n integer "images" (n, 1, 2, 2) on K = 17 levels: a rounded Gaussian around level 8."""
    z = np.random.default_rng(seed).normal(8.0 + shift, 2.0, size=(n, 1, 2, 2))
    return np.clip(np.rint(z), 0, 16).astype(np.uint8)


def _flat_stick() -> Yardstick:
    return Yardstick(_flatten, _levels(300, 0), _levels(200, 1), n_groups=20, k=3, seed=0)


def test_noisy_moves_pixels_by_whole_levels_and_clips():
    """One level is 2/K wide in the model scale: noise of exactly +-2/K moves every pixel one
    level up or down, clipped to 0..K-1."""
    x = np.array([0, 3, 16], dtype=np.uint8).reshape(3, 1, 1, 1)
    up, down = torch.ones(x.shape), -torch.ones(x.shape)
    np.testing.assert_array_equal(noisy(x, 17, 2 / 17, up).ravel(), [1, 4, 16])
    np.testing.assert_array_equal(noisy(x, 17, 2 / 17, down).ravel(), [0, 2, 15])
    np.testing.assert_array_equal(noisy(x, 17, 3 * 2 / 17, up).ravel(), [3, 6, 16])


def test_score_chunks_fid_and_names_its_fields():
    """A set of 2.5 chunks of |Q| = 200 gives FID over its 2 whole chunks: the mean of the two
    chunk FIDs, on 1 degree of freedom; KID uses all 500 images."""
    stick = _flat_stick()
    images = _levels(500, 2)
    score = stick.score(images)
    r = stick.reference_features
    chunk_fids = [fid(_flatten(images[i : i + 200]), r) for i in (0, 200)]
    assert score.fid.value == pytest.approx(np.mean(chunk_fids), rel=1e-12)
    assert score.fid.dof == 1 and score.n == 500 and stick.n_reference == 300
    assert score.kid.estimate().value == pytest.approx(
        stick.kid_reference(_flatten(images)).estimate().value
    )
    d = score.to_dict()
    assert set(d) == {"n_images", "kid", "fid", "precision", "recall"} and d["n_images"] == 500
    assert d["kid"]["ci_low"] < d["kid"]["value"] < d["kid"]["ci_high"]
    with pytest.raises(ValueError, match="needs at least max"):
        Yardstick(_flatten, _levels(300, 0), _levels(10, 1), n_groups=20, k=3)


def test_calibration_steps_up_with_noise():
    """Real images, clean then with growing noise: KID grows at each step and each step is
    resolved by its paired interval; the clean entry equals a plain score of the same images."""
    stick = _flat_stick()
    images = _levels(400, 3)
    entries = calibration(stick, images, 17, [0.3, 0.6], torch.Generator().manual_seed(0))
    assert [e["sigma"] for e in entries] == [0.0, 0.3, 0.6]
    assert "minus_previous" not in entries[0]
    assert entries[0]["kid"] == stick.score(images).to_dict()["kid"]
    for prev, e in zip(entries[:-1], entries[1:]):
        assert e["kid"]["value"] > prev["kid"]["value"]
        step = e["minus_previous"]
        assert step["verdict"] == "higher" and step["value"] == pytest.approx(
            e["kid"]["value"] - prev["kid"]["value"]
        )


def test_against_n_rescoring_prefixes():
    """KID of the first n' images equals a fresh score of those images; the s.e. shrinks with n';
    the paired version is the difference of the two prefixes' KIDs."""
    stick = _flat_stick()
    a, b = stick.score(_levels(400, 4, shift=1.0)), stick.score(_levels(400, 5))
    rows = stick.against_n(a, None, [100, 400])
    assert [r["n_images"] for r in rows] == [100, 400]
    fresh = stick.kid_reference(_flatten(_levels(400, 4, shift=1.0)[:100])).estimate()
    assert rows[0]["value"] == pytest.approx(fresh.value) and rows[0]["se"] > rows[1]["se"]
    paired = stick.against_n(a, b, [400])[0]
    assert paired["value"] == pytest.approx(
        a.kid.estimate().value - b.kid.estimate().value, rel=1e-9
    )
    assert compare(a, b)["verdict"] == "higher"


def test_split_boundaries_and_verdict_thresholds():
    pool = _gaussian_pool(10)
    reference, real = split_held_out(pool, 1, seed=0)  # the smallest reference allowed
    assert len(reference) == 1 and len(real) == 9
    with pytest.raises(ValueError, match="got 0"):
        split_held_out(pool, 0, seed=0)
    assert verdict(Estimate(0.5, 0.01, 19)) == "higher"
    assert verdict(Estimate(-0.5, 0.01, 19)) == "lower"


def test_compare_and_calibration_use_their_level():
    """A difference about 1.5 s.e. from zero: resolved at the 80% level, not at 95%."""
    stick = _flat_stick()
    a, b = stick.score(_levels(400, 6, shift=0.2)), stick.score(_levels(400, 7))
    d = a.kid - b.kid
    z = d.value / d.se
    assert 1.4 < abs(z) < 1.9, z  # between the t quantiles 1.33 (80%) and 2.09 (95%), 19 dof
    assert compare(a, b, 0.95)["verdict"] == "not resolved"
    assert compare(a, b, 0.8)["verdict"] != "not resolved"
    wide, narrow = compare(a, b, 0.95), compare(a, b, 0.8)
    assert wide["ci_high"] - wide["ci_low"] > narrow["ci_high"] - narrow["ci_low"]
    images = _levels(400, 3)
    entries = calibration(stick, images, 17, [0.3], torch.Generator().manual_seed(0), 0.5)
    noisy_score = stick.score(noisy(images, 17, 0.3, _eps(400)))
    assert entries[1]["minus_previous"] == compare(noisy_score, stick.score(images), 0.5)


def _eps(n: int) -> torch.Tensor:
    """The noise calibration draws for n images (1, 2, 2) from a generator seeded 0."""
    return torch.randn((n, 1, 2, 2), generator=torch.Generator().manual_seed(0))


def test_calibration_noise_comes_from_its_generator_and_scales_by_sigma():
    stick = _flat_stick()
    images = _levels(400, 3)
    torch.manual_seed(11)  # the global generator must not matter
    entries = calibration(stick, images, 17, [0.3], torch.Generator().manual_seed(0))
    expected = stick.score(noisy(images, 17, 0.3, _eps(400))).to_dict()["kid"]
    assert entries[1]["kid"] == expected
    x = np.array([4], dtype=np.uint8).reshape(1, 1, 1, 1)
    two = torch.full(x.shape, 2.0)  # sigma * eps = 2 levels' width when sigma = 1 level
    np.testing.assert_array_equal(noisy(x, 17, 2 / 17, two).ravel(), [6])
