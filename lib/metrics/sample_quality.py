"""Sample quality from features (n, F) of a fixed network: KID with standard errors, FID,
improved precision / recall.

KID (Bińkowski et al. 2018) is the ranking metric. It is the unbiased estimate of the squared
maximum mean discrepancy between the scored set X (n) and the reference set R (m) under the
polynomial kernel k(x, y) = (x·y / F + 1)^3:

    KID = Σ_{i≠j} k(x_i, x_j) / (n (n-1)) + Σ_{i≠j} k(r_i, r_j) / (m (m-1))
          - 2 Σ_{i,j} k(x_i, r_j) / (n m),

unbiased at any n and m, so values at different sizes are comparable and the true value of two
samples of one distribution is 0 (estimates may be slightly negative). Its standard error is the
grouped (delete-a-group) jackknife: both sets are split into G seeded groups, KID_{-g} is KID with
group g deleted from both, and

    se² = (G-1)/G Σ_g (KID_{-g} - mean_g KID_{-g})²,   with G - 1 degrees of freedom.

By the Efron–Stein inequality the jackknife variance is conservative in expectation (for a
statistic of independent groups): close to exact when KID is near linear in the groups (distinct
distributions), about twice the variance for the degenerate null of equal distributions. All
leave-group-out values follow in closed form from G×G matrices of kernel sums by group pair.

Paired differences: the samplers of a comparison start from the same noise, so image i of every
generated set of one size is paired. Sets of equal n get the same group ids, so deleting group g
deletes the same noise draws from each set, and the jackknife of KID_a - KID_b applied to the
differences of their leave-group-out values lets the variation the two scores share (from the
reference and the common noise draws) cancel: a paired s.e., not that of two independent scores.

The null is two disjoint samples: a set scored against itself gets KID(A, A) = -(2/n) (mean_i
k(a_i, a_i) - mean_{i≠j} k(a_i, a_j)) < 0, with a jackknife interval that may well exclude 0.

FID (the Fréchet distance of Gaussians fitted to the features) is kept for continuity. Its plug-in
estimate is biased upward by a term that shrinks with n, so FIDs are compared at equal n only.
Improved precision and recall (Kynkäänniemi et al. 2019) depend on n through the k-NN radii, so
they too are compared at the size of the real set; `over_chunks` scores a large generated set as
the mean over disjoint chunks of that size.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch

_BLOCK = 2048  # rows per kernel / distance block: memory O(_BLOCK · n)

Features = np.ndarray | torch.Tensor


def _as_features(x: Features, name: str) -> np.ndarray:
    """(n, F) float64 numpy array."""
    x = np.asarray(torch.as_tensor(x).detach().cpu().double())
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must be features (n, F) with n, F >= 1, got shape {x.shape}")
    return x


def _check_same_dim(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{names} must have one feature dimension, got shapes {a.shape} and {b.shape}"
        )


# --- KID -----------------------------------------------------------------------------------


def polynomial_kernel(x: Features, y: Features, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (x·y / F + coef0)^degree for all pairs: (n, F), (m, F) -> (n, m)."""
    x, y = _as_features(x, "x"), _as_features(y, "y")
    _check_same_dim(x, y, "x and y")
    if int(degree) != degree or degree < 1:
        raise ValueError(f"degree must be a positive integer, got {degree}")
    k = x @ y.T  # in place from here: this is the (block, n) matrix that bounds memory
    k /= x.shape[1]
    k += coef0
    base = k.copy()
    for _ in range(int(degree) - 1):  # by products: numpy's float pow is far slower
        k *= base
    return k


def group_ids(n: int, n_groups: int, seed: int) -> np.ndarray:
    """Group of each of n items (n,): a seeded permutation of range(n) mod n_groups, so group
    sizes differ by at most 1 and the same (n, n_groups, seed) gives the same ids."""
    if n_groups < 2 or n < n_groups:
        raise ValueError(f"need n_groups >= 2 and n >= n_groups, got n={n}, n_groups={n_groups}")
    return np.random.default_rng(seed).permutation(n) % n_groups


@dataclass(frozen=True)
class Estimate:
    """A value with its standard error on dof degrees of freedom (se NaN: not estimable)."""

    value: float
    se: float
    dof: int

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """value ± t_{dof, (1+level)/2} · se."""
        half = scipy.stats.t.ppf((1 + level) / 2, self.dof) * self.se if self.dof >= 1 else math.nan
        return float(self.value - half), float(self.value + half)

    def excludes_zero(self, level: float = 0.95) -> bool:
        """Whether the interval lies strictly on one side of 0 (False when se is NaN)."""
        low, high = self.interval(level)
        return bool(low > 0 or high < 0)

    def to_dict(self, level: float = 0.95) -> dict[str, float | None]:
        """Plain floats for a metrics file; None (JSON null) where the s.e. is not estimable."""
        low, high = self.interval(level)

        def plain(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "value": float(self.value),
            "se": plain(self.se),
            "ci_low": plain(low),
            "ci_high": plain(high),
        }


def _jackknife(value: float, leave_out: np.ndarray) -> Estimate:
    """se² = (G-1)/G Σ_g (leave_out_g - mean)², on G - 1 degrees of freedom."""
    g = len(leave_out)
    var = (g - 1) / g * np.sum((leave_out - leave_out.mean()) ** 2)
    return Estimate(float(value), float(np.sqrt(var)), g - 1)


@dataclass(frozen=True, eq=False)
class KidScore:
    """KID of one scored set against one reference, with its leave-group-out values (G,).

    `reference` identifies the reference (its features and grouping): differences are taken only
    between scores of one reference.
    """

    value: float
    leave_out: np.ndarray
    n: int
    reference: str

    def estimate(self) -> Estimate:
        """KID with its grouped-jackknife s.e."""
        return _jackknife(self.value, self.leave_out)

    def __sub__(self, other: KidScore) -> Estimate:
        """KID_a - KID_b with the jackknife of leave_out_a - leave_out_b.

        Group g is deleted from both scored sets and the reference at once, so the differences
        are paired by group; sets of equal n also share their group ids, which pairs image i
        across samplers. Sets of unequal n are grouped independently (no image-level pairing).
        """
        if not isinstance(other, KidScore):
            return NotImplemented
        if self.reference != other.reference:
            raise ValueError(
                "KID differences need scores against one reference (same features, n_groups, "
                f"seed, kernel), got references {self.reference} and {other.reference}"
            )
        return _jackknife(self.value - other.value, self.leave_out - other.leave_out)


def _group_sums(
    x: np.ndarray,
    y: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    n_groups: int,
    degree: int,
    coef0: float,
) -> np.ndarray:
    """S[g, h] = Σ_{i in group g of x, j in group h of y} k(x_i, y_j): (G, G), in row blocks."""
    onehot_x, onehot_y = np.eye(n_groups)[gx], np.eye(n_groups)[gy]  # (n, G), (m, G)
    s = np.zeros((n_groups, n_groups))
    for start in range(0, len(x), _BLOCK):
        rows = slice(start, start + _BLOCK)
        s += onehot_x[rows].T @ (polynomial_kernel(x[rows], y, degree, coef0) @ onehot_y)
    return s


def _within_group_sums(
    x: np.ndarray, gx: np.ndarray, n_groups: int, degree: int, coef0: float
) -> np.ndarray:
    """As `_group_sums(x, x, ...)` with the diagonal terms k(x_i, x_i) excluded."""
    s = _group_sums(x, x, gx, gx, n_groups, degree, coef0)
    diag = ((x * x).sum(1) / x.shape[1] + coef0) ** degree
    s[np.diag_indices(n_groups)] -= np.bincount(gx, weights=diag, minlength=n_groups)
    return s


def _sums_without_each_group(s: np.ndarray) -> np.ndarray:
    """(G,): the total of s (G, G) with row g and column g deleted, for each g."""
    return s.sum() - s.sum(0) - s.sum(1) + np.diag(s)


class KidReference:
    """KID of scored sets against one reference set R (m, F), with grouped-jackknife errors.

    Computes once what every score needs: R's group ids `group_ids(m, n_groups, seed)`, its
    group sizes and the G×G within-R kernel sums by group pair (diagonal excluded). A scored set
    of n gets `group_ids(n, n_groups, seed)`: sets of equal n share their grouping (pairing).
    """

    def __init__(
        self,
        features: Features,
        n_groups: int = 20,
        seed: int = 0,
        degree: int = 3,
        coef0: float = 1.0,
    ):
        self.features = _as_features(features, "reference features")
        self.m = len(self.features)
        if n_groups < 2 or self.m < n_groups:
            raise ValueError(
                f"the reference needs n_groups >= 2 and m >= n_groups, got m={self.m}, "
                f"n_groups={n_groups}"
            )
        self.n_groups, self.seed, self.degree, self.coef0 = n_groups, seed, degree, coef0
        self.groups = group_ids(self.m, n_groups, seed)
        self.sizes = np.bincount(self.groups, minlength=n_groups)
        self.within = _within_group_sums(self.features, self.groups, n_groups, degree, coef0)
        digest = hashlib.blake2b(self.features.tobytes(), digest_size=16)
        digest.update(repr((self.features.shape, n_groups, seed, degree, coef0)).encode())
        self.key = digest.hexdigest()

    def __call__(self, features: Features) -> KidScore:
        """KID of features (n, F) against the reference, with its G leave-group-out values."""
        x = _as_features(features, "scored features")
        _check_same_dim(x, self.features, "scored and reference features")
        n, g = len(x), self.n_groups
        if n < g:
            raise ValueError(f"the scored set needs n >= n_groups, got n={n}, n_groups={g}")
        gx = group_ids(n, g, self.seed)
        s_xx = _within_group_sums(x, gx, g, self.degree, self.coef0)
        s_xr = _group_sums(x, self.features, gx, self.groups, g, self.degree, self.coef0)

        def mmd2(sxx, srr, sxr, n, m):
            return sxx / (n * (n - 1)) + srr / (m * (m - 1)) - 2 * sxr / (n * m)

        value = mmd2(s_xx.sum(), self.within.sum(), s_xr.sum(), n, self.m)
        leave_out = mmd2(
            _sums_without_each_group(s_xx),
            _sums_without_each_group(self.within),
            _sums_without_each_group(s_xr),
            n - np.bincount(gx, minlength=g),
            self.m - self.sizes,
        )
        return KidScore(float(value), leave_out, n, self.key)


def kid(features_a: Features, features_b: Features, n_groups: int = 20, seed: int = 0) -> Estimate:
    """KID of features_a against features_b, with its grouped-jackknife s.e."""
    return KidReference(features_b, n_groups, seed)(features_a).estimate()


# --- FID -----------------------------------------------------------------------------------


def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F) of features (N, F), in float64."""
    x = np.asarray(torch.as_tensor(features).detach().cpu().double())
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (N, F) with N >= 2, got shape {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; eigenvalues below 0 (round-off) -> 0."""
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """|mu1 - mu2|^2 + tr C1 + tr C2 - 2 tr (C1^{1/2} C2 C1^{1/2})^{1/2}, in float64.

    The cross term is computed from symmetric eigendecompositions only: C1^{1/2} from eigh(C1),
    then the eigenvalues of the symmetric PSD matrix C1^{1/2} C2 C1^{1/2}, clipped at 0 and
    square-rooted. This is real by construction and stable for singular covariances (n < F),
    where scipy.linalg.sqrtm of the non-symmetric C1 C2 may return complex round-off. Not
    clipped at 0: identical inputs give ~1e-8 tr C of either sign (square roots of tiny
    eigenvalues), and a clearly negative value would reveal a bug.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = (
        np.atleast_2d(np.asarray(cov1, np.float64)),
        np.atleast_2d(np.asarray(cov2, np.float64)),
    )
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (len(mu1),) * 2:
        raise ValueError(
            f"need means (F,) and covariances (F, F) of one F, got {mu1.shape}, {cov1.shape}, "
            f"{mu2.shape}, {cov2.shape}"
        )
    cov1, cov2 = (cov1 + cov1.T) / 2, (cov2 + cov2.T) / 2
    s1 = _sqrt_psd(cov1)
    m = s1 @ cov2 @ s1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def fid(features_a: Features, features_b: Features) -> float:
    """FID between two feature sets (n_a, F), (n_b, F): compare at equal n only."""
    a, b = _as_features(features_a, "features_a"), _as_features(features_b, "features_b")
    _check_same_dim(a, b, "features_a and features_b")
    return frechet_distance(*feature_stats(a), *feature_stats(b))


# --- precision / recall ---------------------------------------------------------------------


def _knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """(n,): distance of each point to its k-th nearest neighbour in x, itself excluded."""
    return torch.cat(
        [torch.cdist(block, x).kthvalue(k + 1, dim=1).values for block in x.split(_BLOCK)]
    )


def precision_recall(real: Features, generated: Features, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN radii.

    precision = fraction of generated points within (<=) the k-NN radius of some real point;
    recall = fraction of real points within the k-NN radius of some generated point.
    """
    r = torch.from_numpy(_as_features(real, "real features"))
    g = torch.from_numpy(_as_features(generated, "generated features"))
    _check_same_dim(r.numpy(), g.numpy(), "real and generated features")
    if k < 1 or k >= min(len(r), len(g)):
        raise ValueError(
            f"need 1 <= k < both set sizes, got k={k}, {len(r)} real, {len(g)} generated"
        )
    radius_r, radius_g = _knn_radii(r, k), _knn_radii(g, k)
    recalled = []
    covered = torch.zeros(len(g), dtype=torch.bool)
    for block, radius in zip(r.split(_BLOCK), radius_r.split(_BLOCK)):
        d = torch.cdist(block, g)  # (block, n): real rows, as torch-fidelity
        recalled.append((d <= radius_g).any(dim=1))
        covered |= (d <= radius[:, None]).any(dim=0)
    return covered.double().mean().item(), torch.cat(recalled).double().mean().item()


# --- chunks ----------------------------------------------------------------------------------


def over_chunks(
    fn: Callable[[np.ndarray], float], generated: Features, chunk_size: int
) -> Estimate:
    """Mean of fn over c = floor(n / chunk_size) disjoint consecutive chunks of generated (n, F):
    se = sd(ddof=1) / √c on c - 1 degrees of freedom (NaN for one chunk)."""
    x = _as_features(generated, "generated features")
    if chunk_size < 1 or chunk_size > len(x):
        raise ValueError(f"need 1 <= chunk_size <= n, got chunk_size={chunk_size}, n={len(x)}")
    c = len(x) // chunk_size
    values = np.array([fn(x[i * chunk_size : (i + 1) * chunk_size]) for i in range(c)])
    se = values.std(ddof=1) / math.sqrt(c) if c > 1 else math.nan
    return Estimate(float(values.mean()), float(se), c - 1)
