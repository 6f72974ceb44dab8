"""Rankings on synthetic features whose answer is known: a deliberately poor sampler ranks below
the exact solution with an interval that excludes 0, a sampler indistinguishable from it is
"not resolved", and the standard error shrinks like 1/sqrt(n)."""

import numpy as np
import pytest
import torch

from lib.images.sampling import Run
from lib.metrics.ranking import n_to_resolve, rank
from lib.metrics.yardstick import Yardstick

F = 16  # features = the flattened 1 x 4 x 4 "images"


def features(images: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(images).reshape(len(images), -1).double()


def mixture(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """n draws of an equal-weight mixture of unit-variance Gaussians, as (n, 1, 4, 4)."""
    x = centres[rng.integers(len(centres), size=n)] + rng.normal(size=(n, F))
    return x.reshape(n, 1, 4, 4)


@pytest.fixture(scope="module")
def ranked():
    rng = np.random.default_rng(0)
    centres = 1.5 * rng.normal(size=(10, F))
    stick = Yardstick(features, mixture(rng, 300, centres), mixture(rng, 300, centres))
    n = 1200
    exact = mixture(rng, n, centres)  # the data distribution itself, from "noise" draw i
    wobble = rng.normal(size=exact.shape)
    runs = [
        Run("linear", "exact", 80, exact, 1.0),
        # 2 Euler steps: every sample pulled halfway to the mean, the modes blurred together
        Run("linear", "euler", 2, 0.5 * exact + 0.5 * exact.mean(0), 0.1, 2, rmse_to_exact=1.0),
        # a fine solver: the exact samples with a tiny error
        Run("linear", "rk4", 40, exact + 0.01 * wobble, 0.5, 10, rmse_to_exact=0.01),
        Run("linear", "sde", 100, exact + 0.5 * wobble, 1.0, 50, sigma=1.0),
    ]
    scores = {(r.schedule, r.key): stick.score(r.images) for r in runs}
    return rank(runs, scores, stick, fast_nfe=20, level=0.95), stick


def test_a_poor_sampler_ranks_below_the_exact_solution(ranked):
    result, _ = ranked
    table = result["schedules"]["linear"]["runs"]
    poor = table["euler_nfe_2"]["vs_exact"]
    assert poor["verdict"] == "higher" and poor["ci_low"] > 0, poor
    assert table["euler_nfe_2"]["vs_real"]["verdict"] == "higher"
    fine = table["rk4_nfe_40"]["vs_exact"]
    assert fine["verdict"] == "not resolved", fine
    # the fast sampler (<= 20 NFE) is the poor one, and it is called worse than the exact solve
    assert result["schedules"]["linear"]["best_fast"]["key"] == "euler_nfe_2"


def test_best_run_and_its_runner_up(ranked):
    result, _ = ranked
    best = result["best"]
    assert best["key"] in ("exact", "rk4_nfe_40")
    assert (
        best["runner_up"]["key"] in ("exact", "rk4_nfe_40")
        and best["runner_up"]["key"] != best["key"]
    )
    assert best["vs_runner_up"]["verdict"] == "not resolved"
    assert best["vs_real"]["within_3_se"]  # drawn from the data distribution itself
    assert best["vs_runner_up"]["n_to_resolve"] > best["n_images"] == 1200


def test_standard_error_shrinks_like_one_over_sqrt_n(ranked):
    result, _ = ranked
    rows = result["against_n"]["best"]
    n = np.array([r["n_images"] for r in rows])
    se = np.array([r["se"] for r in rows])
    assert list(n) == [150, 300, 600, 1200]
    # s.e. ~ n^-1/2 for the generated side; the fixed reference (300) adds a floor, so the
    # fitted exponent lies between -1/2 and 0
    slope = np.polyfit(np.log(n), np.log(se), 1)[0]
    assert -0.75 < slope < -0.1, slope


def test_n_to_resolve_extrapolates_with_the_large_sample_quantile():
    # value 1, se 1 at n = 100: resolving needs se = 1 / 1.96, i.e. n = 100 x 1.96^2
    assert n_to_resolve({"value": 1.0, "se": 1.0}, 100, 0.95) == 385
    assert n_to_resolve({"value": 0.0, "se": 1.0}, 100, 0.95) is None
