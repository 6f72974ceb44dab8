"""FID: the Fréchet distance against closed forms, FID's behaviour on real and noisy digits, and a
classifier that learns the digits."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from lib.fid import (
    Classifier,
    FidReference,
    accuracy,
    extract_features,
    feature_stats,
    fid,
    fid_with_floor,
    frechet_distance,
    load_classifier,
    real_floor,
    save_classifier,
    to_model_scale,
    train_classifier,
)
from lib.image_data import load_image_data


def _rotation(theta: float) -> np.ndarray:
    return np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])


def _random_cov(d: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q @ np.diag(rng.uniform(0.1, 3.0, d)) @ q.T


@pytest.fixture(scope="module")
def digits():
    """(images in [-1, 1], labels) for the train (1197), val (300) and test (300) digits."""
    data = load_image_data("digits", None, False, 300, 300, 0)
    splits = (data.train, data.val, data.test)
    return [(to_model_scale(s.images, data.n_levels), torch.as_tensor(s.labels)) for s in splits]


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny classifier trained 300 steps on the 1197 training digits (~1 s on one core)."""
    (x, y), (xv, yv), _ = digits
    torch.manual_seed(0)
    model = Classifier(1, channels=(16, 32), feature_dim=64)
    result = train_classifier(
        model,
        x,
        y,
        xv,
        yv,
        n_iters=300,
        batch_size=64,
        lr=3e-3,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    return model, result


# ------------------------------------------------------------------ Fréchet distance


def test_frechet_distance_diagonal_covariances():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    value = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert value == pytest.approx(closed, rel=1e-6, abs=1e-12)


def test_frechet_distance_non_commuting_2x2():
    c1 = _rotation(0.3) @ np.diag([2.0, 0.5]) @ _rotation(0.3).T
    c2 = _rotation(1.2) @ np.diag([0.3, 1.7]) @ _rotation(1.2).T
    assert not np.allclose(c1 @ c2, c2 @ c1)
    mu1, mu2 = np.array([0.5, -1.0]), np.array([1.0, 2.0])
    # For a 2x2 PSD M, tr M^{1/2} = sqrt(tr M + 2 sqrt(det M)); here M = C1^{1/2} C2 C1^{1/2}
    # has tr M = tr(C1 C2) and det M = det C1 det C2.
    cross = math.sqrt(np.trace(c1 @ c2) + 2 * math.sqrt(np.linalg.det(c1) * np.linalg.det(c2)))
    closed = ((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * cross
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(closed, rel=1e-6, abs=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_and_is_symmetric():
    rng = np.random.default_rng(1)
    c1, c2 = _random_cov(6, rng), _random_cov(6, rng)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1 = scipy.linalg.sqrtm(c1).real
    cross = np.trace(scipy.linalg.sqrtm(s1 @ c2 @ s1).real)
    closed = ((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * cross
    value = frechet_distance(mu1, c1, mu2, c2)
    assert value == pytest.approx(closed, rel=1e-6)
    assert frechet_distance(mu2, c2, mu1, c1) == pytest.approx(value, rel=1e-6)
    # C2 = c^2 C1 commute: the distance is (1 - c)^2 tr C1.
    assert frechet_distance(mu1, c1, mu1, 4 * c1) == pytest.approx(np.trace(c1), rel=1e-6)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# ------------------------------------------------------------------ FID on images


def test_fid_of_a_set_with_itself_is_zero(digits):
    (x, _), _, _ = digits
    torch.manual_seed(0)
    model = Classifier(1, channels=(8, 16), feature_dim=32)
    features = extract_features(model, x[:500], batch_size=128)
    _, cov = feature_stats(features)
    # Measured |FID| / tr C: 5e-9 (round-off in the square roots of tiny eigenvalues).
    assert abs(fid(model, x[:500], x[:500], batch_size=128)) < 1e-6 * np.trace(cov)
    # n = 20 < feature_dim: a singular covariance; measured 2e-8.
    _, cov20 = feature_stats(features[:20])
    assert abs(fid(model, x[:20], x[:20])) < 1e-6 * np.trace(cov20)


def test_fid_grows_with_added_noise(digits, trained):
    model, _ = trained
    _, _, (x, _) = digits
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    # Measured: 0, 0.031, 0.14, 0.79, 5.8, 48 (the same noise, scaled: no sampling jitter).
    values = [fid(model, x, x + sigma * noise) for sigma in (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)]
    assert abs(values[0]) < 1e-6 * values[1]
    assert all(a < b for a, b in zip(values[:-1], values[1:], strict=True)), values


def test_real_floor_shrinks_with_n_and_sits_below_noisy_fid(digits, trained):
    model, _ = trained
    (x, _), _, _ = digits
    floor_100 = real_floor(model, x, 100, torch.Generator().manual_seed(0))
    floor_500 = real_floor(model, x, 500, torch.Generator().manual_seed(0))
    # FID's upward small-sample bias: the same distribution scores higher at smaller n
    # (measured 21 at n = 100, 6.3 at n = 500).
    assert 0 < floor_500 < 0.5 * floor_100
    # Noise of sd 0.8 (in [-1, 1] units): measured FID 58 against a floor of 7.5 at n = 300.
    noisy = x + 0.8 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    out = fid_with_floor(model, noisy[:300], x, torch.Generator().manual_seed(2))
    assert out["n"] == 300 and out["fid"] > 3 * out["floor"] > 0
    with pytest.raises(ValueError, match="2 n"):
        real_floor(model, x, len(x) // 2 + 1, torch.Generator())


# ------------------------------------------------------------------ classifier


def test_classifier_learns_the_digits(digits, trained):
    model, result = trained
    _, (xv, yv), (xt, yt) = digits
    test_accuracy = accuracy(model, xt, yt)
    # Chance is 0.1; measured after 300 steps: validation 0.953, test 0.963 (seeds 1, 2 of the
    # weights and batches: test 0.960, 0.937).
    assert result.best_val_accuracy == pytest.approx(accuracy(model, xv, yv))
    assert test_accuracy > 0.8, test_accuracy
    model.train()
    accuracy(model, xt[:10], yt[:10])
    assert model.training  # evaluation restores the mode it found


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_classifier_is_size_agnostic(shape):
    model = Classifier(shape[0], channels=(4, 8), feature_dim=16)
    x = torch.zeros(2, *shape)
    assert model(x).shape == (2, 10) and model.features(x).shape == (2, 16)


def test_to_model_scale_maps_levels_onto_minus_one_one():
    x = to_model_scale(np.array([0, 8, 16], dtype=np.uint8), 17)
    assert torch.equal(x, torch.tensor([-1.0, 0.0, 1.0]))


def test_save_and_load_classifier(tmp_path, trained):
    model, _ = trained
    save_classifier(tmp_path / "c.pt", model)
    loaded = load_classifier(tmp_path / "c.pt")
    x = torch.randn(5, 1, 8, 8)
    assert not loaded.training
    assert torch.equal(loaded.features(x), model.eval().features(x))


def test_fid_reference_floor_and_scores(digits, trained):
    """The floor is the mean FID of real sets of n, disjoint from the reference; a further real
    set scores within the floor's spread, the same images with noise far above; sets of another
    size are refused."""
    model, _ = trained
    real = torch.cat([digits[0][0], digits[1][0], digits[2][0]])
    ref = FidReference(model, real, 400, torch.Generator().manual_seed(0), n_floor=5)
    perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    assert ref(real[perm[:400]]) == pytest.approx(0.0, abs=1e-6)  # the reference set itself
    assert len(ref.floors) == 5 and ref.floor == pytest.approx(np.mean(ref.floors))
    assert 0 < ref.floor_sd < ref.floor
    other = real[perm[-400:]]  # another real set, disjoint from the reference
    noisy = other + torch.randn(other.shape, generator=torch.Generator().manual_seed(1))
    assert abs(ref(other) - ref.floor) < 4 * ref.floor_sd
    assert ref(noisy) > ref.floor + 4 * ref.floor_sd
    with pytest.raises(ValueError, match="n = 400"):
        ref(other[:10])
    with pytest.raises(ValueError, match="need 2 n <="):
        FidReference(model, real[:100], 60, torch.Generator())
