"""The sample-quality yardstick: every image set scored on one network's features against one
held-out real reference set, beside a second held-out real set scored the same way.

Real images: a pool that no generator and no classifier trained on (the validation and test
splits) is split, by a seeded permutation, into the reference set R and the real comparison set
Q. A scored set X of n images gets
- KID(X, R) with its grouped-jackknife s.e. (`lib.sample_quality`): the ranking metric;
- FID, precision and recall at the size of Q: the mean over the disjoint chunks of |Q| images of
  X, each against R, with the s.e. over chunks (FID's bias and the k-NN radii depend on n, so
  they are only comparable at one size);
and Q itself is scored the same way: the real-vs-real values at the same sizes, what a perfect
generator would get. Two scores of sets from the same noise are compared by the paired KID
difference with its interval; a difference whose interval contains 0 is "not resolved".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lib.flows.likelihood import quantize
from lib.images.classifier import to_model_scale
from lib.metrics.sample_quality import (
    Estimate,
    KidReference,
    KidScore,
    fid,
    over_chunks,
    precision_recall,
)

FeatureFn = Callable[[np.ndarray], torch.Tensor]  # integer images (n, C, H, W) -> (n, F)


@dataclass(frozen=True, eq=False)
class Score:
    n: int
    features: np.ndarray  # (n, F): kept to re-score the first n' images (s.e. against n)
    kid: KidScore
    fid: Estimate
    precision: Estimate
    recall: Estimate

    def to_dict(self, level: float = 0.95) -> dict:
        return {
            "n_images": self.n,
            "kid": self.kid.estimate().to_dict(level),
            "fid": self.fid.to_dict(level),
            "precision": self.precision.to_dict(level),
            "recall": self.recall.to_dict(level),
        }


def split_held_out(pool: np.ndarray, n_reference: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference set R (n_reference images) and the real comparison set Q (the rest) of a
    held-out pool (n, ...), by a permutation drawn from `seed`: disjoint, together the pool."""
    if not 0 < n_reference < len(pool):
        raise ValueError(
            f"n_reference must be between 1 and the pool's size - 1 = {len(pool) - 1}, "
            f"got {n_reference}"
        )
    perm = np.random.default_rng(seed).permutation(len(pool))
    return pool[perm[:n_reference]], pool[perm[n_reference:]]


def verdict(difference: Estimate, level: float = 0.95) -> str:
    """ "lower", "higher" (the interval excludes 0 on that side) or "not resolved"."""
    if not difference.excludes_zero(level):
        return "not resolved"
    return "lower" if difference.value < 0 else "higher"


def compare(a: Score, b: Score, level: float = 0.95) -> dict:
    """KID(a) - KID(b) with its paired interval and verdict ("lower": a is better)."""
    d = a.kid - b.kid
    return {**d.to_dict(level), "verdict": verdict(d, level)}


class Yardstick:
    """Scores image sets against the reference set R, beside the real comparison set Q."""

    def __init__(
        self,
        features: FeatureFn,
        reference: np.ndarray,
        real: np.ndarray,
        *,
        n_groups: int = 20,
        k: int = 3,
        seed: int = 0,
    ):
        if len(real) < max(n_groups, k + 1):
            raise ValueError(
                f"the real comparison set has {len(real)} images; it needs at least "
                f"max(n_groups = {n_groups}, k + 1 = {k + 1})"
            )
        self.features, self.k = features, k
        self.reference_features = features(reference)
        self.kid_reference = KidReference(self.reference_features, n_groups, seed)
        self.chunk = len(real)
        self.real = self.score(real)

    @property
    def n_reference(self) -> int:
        return len(self.reference_features)

    def score(self, images: np.ndarray) -> Score:
        """KID on all n images; FID, precision and recall over chunks of |Q| (needs n >= |Q|)."""
        if len(images) < self.chunk:
            raise ValueError(
                f"a scored set needs at least the real set's {self.chunk} images, got {len(images)}"
            )
        x = self.features(images)
        r = self.reference_features
        return Score(
            n=len(x),
            features=np.asarray(x),
            kid=self.kid_reference(x),
            fid=over_chunks(lambda c: fid(c, r), x, self.chunk),
            precision=over_chunks(lambda c: precision_recall(r, c, self.k)[0], x, self.chunk),
            recall=over_chunks(lambda c: precision_recall(r, c, self.k)[1], x, self.chunk),
        )

    def against_n(self, a: Score, b: Score | None, sizes: list[int], level: float = 0.95) -> list:
        """KID of the first n' images of a (or the paired difference a - b) for each n' in
        sizes: how the standard error shrinks with the generated set's size."""
        out = []
        for n in sizes:
            ka = self.kid_reference(a.features[:n])
            est = ka - self.kid_reference(b.features[:n]) if b is not None else ka.estimate()
            out.append({"n_images": n, **est.to_dict(level)})
        return out


def noisy(images: np.ndarray, n_levels: int, sigma: float, eps: torch.Tensor) -> np.ndarray:
    """Integer images (n, C, H, W) with Gaussian pixel noise sigma * eps added at their bin
    centres in the model scale [-1, 1], quantized back to the levels 0..K-1."""
    z = to_model_scale(images, n_levels) + sigma * eps
    return quantize(z, n_levels).numpy()


def calibration(
    yardstick: Yardstick,
    images: np.ndarray,
    n_levels: int,
    sigmas: list[float],
    generator: torch.Generator,
    level: float = 0.95,
) -> list[dict]:
    """KID of real images, clean and with pixel noise of each sigma (one noise draw, scaled):
    what a KID value means, and whether the yardstick resolves each step. Each entry has the
    score and the paired difference to the previous entry."""
    eps = torch.randn(images.shape, generator=generator)
    out, previous = [], None
    for sigma in [0.0, *sigmas]:
        s = yardstick.score(noisy(images, n_levels, sigma, eps) if sigma > 0 else images)
        entry = {"sigma": sigma, **s.to_dict(level)}
        if previous is not None:
            entry["minus_previous"] = compare(s, previous, level)
        out.append(entry)
        previous = s
    return out
