"""Sample-quality metrics on features: KID and its grouped jackknife against torch-fidelity,
brute force and Monte Carlo; FID against pytorch-fid and torch-fidelity; precision / recall
against torch-fidelity and on cluster mixtures with known answers."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from threadpoolctl import threadpool_limits
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.metric_kid import kernel_poly, kid_features_to_metric
from torch_fidelity.metric_prc import calculate_precision_recall_full

import lib.metrics.sample_quality as sq
from lib.metrics.sample_quality import (
    Estimate,
    KidReference,
    KidScore,
    feature_stats,
    fid,
    frechet_distance,
    group_ids,
    kid,
    over_chunks,
    polynomial_kernel,
    precision_recall,
)


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """Many small matrix products: one BLAS thread is several times faster than competing ones."""
    with threadpool_limits(1):
        yield


def _mixture(rng, n: int, centers: np.ndarray, n_used: int | None = None, sd: float = 0.5):
    """n points of an equal-weight Gaussian mixture around centers (K, F) (the first n_used)."""
    labels = rng.integers(n_used or len(centers), size=n)
    return centers[labels] + sd * rng.normal(size=(n, centers.shape[1]))


def _mmd2_unbiased(x: np.ndarray, r: np.ndarray) -> float:
    """Brute force: off-diagonal means of K_xx and K_rr minus twice the mean of K_xr."""
    n, m = len(x), len(r)
    kxx, krr, kxr = polynomial_kernel(x, x), polynomial_kernel(r, r), polynomial_kernel(x, r)
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (krr.sum() - np.trace(krr)) / (m * (m - 1))
        - 2 * kxr.mean()
    )


# --- KID: known answers --------------------------------------------------------------------


def test_polynomial_kernel_matches_torch_fidelity():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(polynomial_kernel(x, y), kernel_poly(x, y), rtol=1e-12)


def test_group_ids_balanced_and_seeded():
    ids = group_ids(103, 10, seed=3)
    assert sorted(np.bincount(ids)) == [10] * 7 + [11] * 3
    assert np.array_equal(ids, group_ids(103, 10, seed=3))
    assert not np.array_equal(ids, group_ids(103, 10, seed=4))
    with pytest.raises(ValueError, match="n=5, n_groups=10"):
        group_ids(5, 10, 0)
    with pytest.raises(ValueError, match="n_groups=1"):
        group_ids(5, 1, 0)


def test_kid_equals_torch_fidelity_at_equal_sizes():
    rng = np.random.default_rng(1)
    x, r = rng.normal(size=(300, 16)) + 0.1, rng.normal(size=(300, 16))
    theirs = kid_features_to_metric(
        torch.tensor(x), torch.tensor(r), kid_subsets=1, kid_subset_size=300, verbose=False
    )["kernel_inception_distance_mean"]
    assert KidReference(r)(x).value == pytest.approx(theirs, rel=1e-9)
    assert kid(torch.tensor(x), r).value == pytest.approx(theirs, rel=1e-9)  # tensors accepted


def test_kid_and_leave_out_equal_brute_force_at_unequal_sizes(monkeypatch):
    """Leave-group-out values: KID recomputed with group g deleted from both sets (rel 1e-9).
    A row block smaller than the sets checks the blocked sums."""
    monkeypatch.setattr(sq, "_BLOCK", 7)
    rng = np.random.default_rng(2)
    x, r = rng.normal(size=(60, 6)) + 0.3, rng.normal(size=(45, 6))
    score = KidReference(r, n_groups=5, seed=9)(x)
    assert score.value == pytest.approx(_mmd2_unbiased(x, r), rel=1e-9)
    gx, gr = group_ids(60, 5, 9), group_ids(45, 5, 9)
    brute = [_mmd2_unbiased(x[gx != g], r[gr != g]) for g in range(5)]
    np.testing.assert_allclose(score.leave_out, brute, rtol=1e-9)
    assert score.n == 60 and score.leave_out.shape == (5,)


def test_jackknife_and_paired_difference_formulas():
    a = KidScore(1.0, np.array([0.9, 1.1, 1.3, 0.7]), 40, "ref")
    b = KidScore(0.5, np.array([0.5, 0.6, 0.4, 0.5]), 40, "ref")
    e = a.estimate()
    assert (e.value, e.dof) == (1.0, 3)
    assert e.se == pytest.approx(math.sqrt(3 / 4 * (0.01 + 0.01 + 0.09 + 0.09)), rel=1e-12)
    d = a - b  # leave-outs 0.4, 0.5, 0.9, 0.2: mean 0.5
    assert d.value == pytest.approx(0.5)
    assert d.se == pytest.approx(math.sqrt(3 / 4 * (0.01 + 0 + 0.16 + 0.09)), rel=1e-12)
    with pytest.raises(ValueError, match="one reference"):
        a - KidScore(0.5, np.zeros(4), 40, "other")


def test_estimate_interval():
    e = Estimate(1.0, 0.5, 10)
    half = scipy.stats.t.ppf(0.975, 10) * 0.5
    assert e.interval() == pytest.approx((1 - half, 1 + half), rel=1e-12)
    assert Estimate(1.0, 0.4, 10).excludes_zero() and not e.excludes_zero()
    assert Estimate(-1.0, 0.1, 5).excludes_zero(level=0.99)
    assert not Estimate(1.0, math.nan, 0).excludes_zero()
    d = e.to_dict()
    assert list(d) == ["value", "se", "ci_low", "ci_high"]
    assert all(type(v) is float for v in d.values())


def test_kid_of_a_set_against_itself():
    """KID(A, A) = 2 U_AA - 2 mean(K_AA) = -(2/n) (mean diag K - mean off-diagonal K) exactly.

    Negative by O(1/n) and, since the jackknife deletes the same points from both copies, with an
    s.e. far smaller still: its interval excludes 0. A set against itself is no null comparison:
    the null is two disjoint sets (see the next test).
    """
    rng = np.random.default_rng(3)
    a = _mixture(rng, 400, rng.normal(size=(10, 64)) * 2, sd=1.0)
    k = polynomial_kernel(a, a)
    off = (k.sum() - np.trace(k)) / (400 * 399)
    e = kid(a, a)
    assert e.value == pytest.approx(-(2 / 400) * (np.diag(k).mean() - off), rel=1e-9)
    assert e.value < 0 and e.excludes_zero()


def test_kid_of_independent_samples_contains_zero():
    rng = np.random.default_rng(4)
    centers = rng.normal(size=(10, 64)) * 2
    e = kid(_mixture(rng, 400, centers, sd=1.0), _mixture(rng, 400, centers, sd=1.0))
    assert not e.excludes_zero()


# --- KID: jackknife calibration by Monte Carlo --------------------------------------------


def _one_replication(kind: str, rng) -> Estimate:
    z, r = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    ref = KidReference(r, n_groups=20)
    if kind == "null":
        return ref(z).estimate()
    if kind == "shift":
        return ref(z + 0.15).estimate()
    if kind == "paired":  # two samplers from the same noise z
        return ref(z + 0.3) - ref(z + 0.15)
    return ref(z) - ref(-z)  # "paired null": both exact samplers, paired through z


@pytest.mark.parametrize("kind", ["null", "shift", "paired", "paired null"])
def test_jackknife_calibration(kind):
    """300 replications, n = m = 200, F = 16, G = 20: mean jackknife s.e. within [0.8, 2] x the
    empirical sd of the estimates, and 95% intervals cover the truth (0 under the nulls, the
    Monte Carlo mean of the unbiased estimates otherwise) at least 90% of the time."""
    rng = np.random.default_rng(5)
    est = [_one_replication(kind, rng) for _ in range(300)]
    values, se = np.array([e.value for e in est]), np.array([e.se for e in est])
    truth = values.mean() if kind in ("shift", "paired") else 0.0
    assert 0.8 <= se.mean() / values.std(ddof=1) <= 2.0
    low, high = np.array([e.interval() for e in est]).T
    assert np.mean((low <= truth) & (truth <= high)) >= 0.9


# --- KID: rankings with known answers --------------------------------------------------------


def test_kid_grows_with_noise_and_paired_steps_are_resolved():
    """Same base points and noise draws, noise sd 1, 1.5, 2, 3 on a mixture of within-cluster sd
    0.5: KID strictly increases and each step is > 3 paired s.e. (and excludes 0)."""
    rng = np.random.default_rng(6)
    centers = rng.normal(size=(10, 32)) * 2
    base, ref = _mixture(rng, 500, centers), KidReference(_mixture(rng, 500, centers))
    noise = rng.normal(size=base.shape)
    scores = [ref(base + sigma * noise) for sigma in (1.0, 1.5, 2.0, 3.0)]
    for lower, higher in zip(scores, scores[1:]):
        step = higher - lower
        assert step.value > 3 * step.se and step.excludes_zero()


def test_mode_dropping_sampler_ranks_below_good_one():
    """From the same noise, a sampler that draws only 5 of the 10 clusters scores a larger KID."""
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(10, 32)) * 2
    ref = KidReference(_mixture(rng, 500, centers))
    labels, z = rng.integers(10, size=500), rng.normal(size=(500, 32))
    good, poor = centers[labels] + 0.5 * z, centers[labels % 5] + 0.5 * z
    d = ref(poor) - ref(good)
    assert d.value > 0 and d.excludes_zero()


def test_kid_rejects_bad_inputs():
    rng = np.random.default_rng(8)
    ref = KidReference(rng.normal(size=(30, 4)), n_groups=10)
    with pytest.raises(ValueError, match=r"\(30, 4\) and \(30, 5\)|\(30, 5\) and \(30, 4\)"):
        ref(rng.normal(size=(30, 5)))
    with pytest.raises(ValueError, match="n=5, n_groups=10"):
        ref(rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="m=5, n_groups=10"):
        KidReference(rng.normal(size=(5, 4)), n_groups=10)
    with pytest.raises(ValueError, match=r"shape \(30,\)"):
        ref(rng.normal(size=30))


# --- FID -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
def test_fid_matches_pytorch_fid_and_torch_fidelity():
    rng = np.random.default_rng(9)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    cov1 = q @ np.diag(rng.uniform(0.5, 3.0, 8)) @ q.T
    cov2 = np.diag(rng.uniform(0.5, 3.0, 8))
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    ours = frechet_distance(mu1, cov1, mu2, cov2)
    assert ours == pytest.approx(calculate_frechet_distance(mu1, cov1, mu2, cov2), rel=1e-6)
    theirs = fid_statistics_to_metric(
        {"mu": mu1, "sigma": cov1}, {"mu": mu2, "sigma": cov2}, verbose=False
    )["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_fid_on_features():
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(500, 6)), rng.normal(size=(400, 6)) * 1.5
    expected = frechet_distance(*feature_stats(a), *feature_stats(b))
    assert fid(torch.tensor(a), b) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"\(500, 6\) and \(400, 5\)"):
        fid(a, b[:, :5])


def test_feature_stats_and_fid_of_tiny_sets_have_their_closed_forms():
    """Unbiased (n - 1) covariances: features {0, 2} have mean 1 and variance 2, {0, 4} mean 2 and
    variance 8, so the 1D FID is (1 - 2)^2 + 2 + 8 - 2 sqrt(2 * 8) = 3 (with 1/n it would be 2)."""
    a, b = np.array([[0.0], [2.0]]), np.array([[0.0], [4.0]])
    assert fid(a, b) == pytest.approx(3.0, abs=1e-12)
    square = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    mu, cov = feature_stats(square)
    np.testing.assert_allclose(mu, [1.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(cov, np.diag([4 / 3, 4 / 3]), atol=1e-15)  # 4 squares of 1 / 3


# --- precision / recall ----------------------------------------------------------------------


def test_precision_recall_equals_torch_fidelity(monkeypatch):
    """Counts equal exactly (torch-fidelity averages in float32, hence abs 1e-7); a row block
    smaller than the sets checks the blocked distances."""
    monkeypatch.setattr(sq, "_BLOCK", 64)
    rng = np.random.default_rng(11)
    real, gen = rng.normal(size=(300, 10)), rng.normal(size=(250, 10)) * 1.2 + 0.1
    for k in (3, 5):
        precision, recall = precision_recall(real, gen, k)
        theirs = calculate_precision_recall_full(torch.tensor(gen), torch.tensor(real), k)
        assert (precision, recall) == pytest.approx(theirs, abs=1e-7)
        assert (precision * 250) == pytest.approx(round(precision * 250), abs=1e-9)


def test_precision_recall_on_a_mixture():
    """10 clusters, F = 16, k = 10: generating 5 of them keeps precision and halves recall;
    noise as large as the clusters' own spread lowers precision."""
    rng = np.random.default_rng(12)
    centers = rng.normal(size=(10, 16)) * 3
    real = _mixture(rng, 500, centers)
    precision, recall = precision_recall(real, _mixture(rng, 500, centers), k=10)
    assert precision > 0.9 and recall > 0.9
    precision, recall = precision_recall(real, _mixture(rng, 500, centers, n_used=5), k=10)
    assert recall < 0.6 and precision > 0.9
    noisy = _mixture(rng, 500, centers) + 0.5 * rng.normal(size=(500, 16))
    assert precision_recall(real, noisy, k=10)[0] < 0.7


def test_precision_recall_rejects_bad_inputs():
    rng = np.random.default_rng(13)
    with pytest.raises(ValueError, match=r"\(20, 3\) and \(20, 4\)"):
        precision_recall(rng.normal(size=(20, 3)), rng.normal(size=(20, 4)))
    with pytest.raises(ValueError, match="k=3, 20 real, 3 generated"):
        precision_recall(rng.normal(size=(20, 3)), rng.normal(size=(3, 3)))


# --- chunks ------------------------------------------------------------------------------------


def test_over_chunks():
    x = np.arange(20.0).reshape(10, 2)  # rows 0..9, first column 0, 2, ..., 18
    e = over_chunks(lambda c: float(c[:, 0].mean()), x, 3)  # chunks of rows 0-2, 3-5, 6-8
    assert (e.value, e.dof) == (pytest.approx(8.0), 2)  # chunk means 2, 8, 14
    assert e.se == pytest.approx(6.0 / math.sqrt(3))
    one = over_chunks(lambda c: float(len(c)), x, 7)
    assert (one.value, one.dof) == (7.0, 0) and math.isnan(one.se)
    for bad in (0, 11):
        with pytest.raises(ValueError, match=f"chunk_size={bad}, n=10"):
            over_chunks(len, x, bad)


# --- FID: closed forms ------------------------------------------------------------------------


def _rotation(theta: float) -> np.ndarray:
    return np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])


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
    # C2 = 4 C1 commute: the distance is (1 - 2)^2 tr C1.
    assert frechet_distance(mu1, c1, mu1, 4 * c1) == pytest.approx(np.trace(c1), rel=1e-6)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_kid_defaults_are_20_groups_and_seed_0_and_reproducible():
    rng = np.random.default_rng(21)
    a, b = rng.normal(size=(100, 4)), rng.normal(size=(120, 4)) + 0.2
    default = kid(a, b)
    assert default == kid(a, b, 20, 0) and default.dof == 19
    assert kid(a, b, 10, 3) == kid(a, b, 10, 3)
    assert kid(a, b, 10, 3).se != kid(a, b, 10, 4).se  # the seed sets the groups


def test_bad_features_are_named_by_their_argument():
    good, flat = np.zeros((5, 3)), np.zeros(5)
    cases = [
        (lambda: fid(flat, good), "features_a must be features"),
        (lambda: fid(good, flat), "features_b must be features"),
        (lambda: fid(good, np.zeros((5, 2))), "features_a and features_b must have one"),
        (lambda: precision_recall(flat, good), "real features must be"),
        (lambda: precision_recall(good, flat), "generated features must be"),
        (lambda: precision_recall(good, np.zeros((5, 2))), "real and generated features must"),
        (lambda: over_chunks(len, flat, 1), "generated features must be"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match=r"N >= 2, got shape \(1, 3\)"):
        feature_stats(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"got shape \(4, 3, 2\)"):
        feature_stats(np.zeros((4, 3, 2)))


def test_not_estimable_se_is_written_as_null():
    assert Estimate(1.0, math.nan, 0).to_dict() == {
        "value": 1.0,
        "se": None,
        "ci_low": None,
        "ci_high": None,
    }


def test_round_off_negative_eigenvalues_count_as_zero():
    """Covariances that are PSD up to round-off (an eigenvalue of -1e-12) give a finite FID:
    diag(1, 1) against diag(1, -1e-12) is 2 + (1 - 1e-12) - 2 (1 + 0) = 1 - 1e-12, and the
    square root of diag(1, -1e-12) is taken as diag(1, 0)."""
    eye, almost = np.eye(2), np.diag([1.0, -1e-12])
    assert frechet_distance(np.zeros(2), eye, np.zeros(2), almost) == pytest.approx(1.0, abs=1e-9)
    assert frechet_distance(np.zeros(2), almost, np.zeros(2), eye) == pytest.approx(1.0, abs=1e-9)


def test_frechet_distance_computes_in_float64():
    rng = np.random.default_rng(22)
    mu1, mu2 = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    a = rng.normal(size=(4, 4)).astype(np.float32)
    cov1, cov2 = a @ a.T, np.eye(4, dtype=np.float32) * np.float32(1.1)
    ours = frechet_distance(mu1, cov1, mu2, cov2)
    wide = frechet_distance(*(v.astype(np.float64) for v in (mu1, cov1, mu2, cov2)))
    assert ours == pytest.approx(wide, rel=1e-13)


def test_each_shape_mismatch_is_refused():
    z2, z3, i2, i3 = np.zeros(2), np.zeros(3), np.eye(2), np.eye(3)
    for args in [(z2, i2, z3, i2), (z2, i2, z2, i3), (z3, i2, z3, i2)]:
        with pytest.raises(ValueError, match="covariances"):
            frechet_distance(*args)


def test_precision_recall_counts_points_on_the_radius_and_allows_k_1():
    """1D, k = 1: real {0, 1, 2, 3} (radii 1), generated {4, 6} (radii 2). Generated 4 lies at
    exactly radius 1 from real 3, so it counts; real 2 lies at exactly radius 2 from generated 4,
    so it counts: precision 1/2, recall 2/4 (with strict < they would be 0 and 1/4)."""
    real, gen = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[4.0], [6.0]])
    assert precision_recall(real, gen, k=1) == (0.5, 0.5)


def test_over_chunks_of_one_row_and_of_two_chunks():
    x = np.arange(6.0).reshape(6, 1)
    ones = over_chunks(lambda c: float(c[0, 0]), x, 1)  # 6 chunks of one row: 0..5
    assert (ones.value, ones.dof) == (2.5, 5)
    assert ones.se == pytest.approx(math.sqrt(3.5 / 6))  # var of 0..5 is 3.5
    two = over_chunks(lambda c: float(c.mean()), x, 3)  # chunk means 1 and 4
    assert two.dof == 1 and two.se == pytest.approx(1.5)  # sd 2.1213 / sqrt 2


def test_validation_boundaries_of_the_kid_pieces():
    """The smallest allowed sizes work and one less is refused: one-row features, degree 1,
    two groups, as many items as groups; zero-width features and fractional degrees fail."""
    rng = np.random.default_rng(23)
    x = rng.normal(size=(4, 3))
    one_row = over_chunks(lambda c: float(c.sum()), x[:1], 1)
    assert one_row.value == pytest.approx(x[0].sum()) and one_row.dof == 0
    with pytest.raises(ValueError, match="must be features"):
        over_chunks(len, np.zeros((3, 0)), 1)
    np.testing.assert_allclose(polynomial_kernel(x, x, degree=1), x @ x.T / 3 + 1)
    for degree in (0, 1.5):
        with pytest.raises(ValueError, match="positive integer"):
            polynomial_kernel(x, x, degree=degree)
    assert sorted(group_ids(2, 2, 0)) == [0, 1]
    for n, g in [(2, 1), (1, 2)]:
        with pytest.raises(ValueError, match="n_groups >= 2 and n >= n_groups"):
            group_ids(n, g, 0)
    ref = KidReference(rng.normal(size=(2, 3)), n_groups=2)  # m = n_groups = 2
    with np.errstate(divide="ignore", invalid="ignore"):  # groups of one: no leave-out value
        score = ref(rng.normal(size=(2, 3)))  # n = n_groups
    assert score.n == 2 and math.isfinite(score.value)
    for m, g in [(2, 1), (1, 2)]:
        with pytest.raises(ValueError, match="m >= n_groups"):
            KidReference(rng.normal(size=(m, 3)), n_groups=g)
    with pytest.raises(ValueError, match="n >= n_groups"):
        ref(rng.normal(size=(1, 3)))


def test_estimate_interval_on_one_degree_of_freedom():
    low, high = Estimate(1.0, 0.5, 1).interval()
    t = scipy.stats.t.ppf(0.975, 1)  # 12.706
    assert (low, high) == pytest.approx((1 - 0.5 * t, 1 + 0.5 * t))
    assert all(math.isnan(v) for v in Estimate(1.0, 0.5, 0).interval())


def test_kid_with_a_linear_kernel_has_its_closed_form():
    """degree 1, coef0 0: k(x, y) = x.y / F, so the unbiased MMD^2 is
    (|sum x|^2 - sum |x_i|^2) / (n (n-1) F) + the same for r - 2 (sum x).(sum r) / (n m F)."""
    rng = np.random.default_rng(24)
    x, r = rng.normal(size=(30, 3)) + 0.3, rng.normal(size=(40, 3))

    def within(a):
        n = len(a)
        return (a.sum(0) @ a.sum(0) - (a * a).sum()) / (n * (n - 1) * 3)

    expected = within(x) + within(r) - 2 * x.sum(0) @ r.sum(0) / (30 * 40 * 3)
    score = KidReference(r, n_groups=5, degree=1, coef0=0.0)(x)
    assert score.value == pytest.approx(expected, rel=1e-12)


def test_differences_need_one_reference():
    """Scores against other features, or the same features grouped by another seed or scored
    with another kernel, cannot be subtracted; the same reference rebuilt can."""
    rng = np.random.default_rng(25)
    r, x = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    base = KidReference(r, 4, seed=0)
    assert base.key == KidReference(r.copy(), 4, seed=0).key
    assert (base(x) - KidReference(r.copy(), 4, seed=0)(x)).value == 0.0
    others = [
        KidReference(r + 1e-9, 4, seed=0),
        KidReference(r, 4, seed=1),
        KidReference(r, 5, seed=0),
        KidReference(r, 4, seed=0, coef0=2.0),
    ]
    for other in others:
        with pytest.raises(ValueError, match="against one reference"):
            base(x) - other(x)
