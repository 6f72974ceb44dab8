"""Rankings of sampler runs on the yardstick, each claim with its interval.

Every run is scored (`lib.yardstick`); within a schedule each run is compared with the exact ODE
solution from the same noise, and every run with the real-vs-real set. The best run (lowest KID)
is compared with the runner-up: "best" is a claim only when that interval excludes 0. How the
standard error of a comparison shrinks with the number of generated images is measured by
re-scoring the first n' images, and extrapolated (s.e. ~ 1/sqrt(n)) to the n that would resolve
an unresolved comparison.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
import torch

from lib.images.sampling import Run
from lib.metrics.yardstick import Score, Yardstick, compare
from lib.params import Section


def _describe(run: Run) -> dict:
    out = {"sampler": run.sampler, "nfe": run.nfe, "seconds": run.seconds}
    if run.n_steps is not None:
        out["n_steps"] = run.n_steps
    if run.sigma is not None:
        out["sigma"] = run.sigma
    if run.rmse_to_exact is not None:
        out["rmse_to_exact"] = run.rmse_to_exact
    return out


def _kid(score: Score) -> float:
    return score.kid.value


def n_to_resolve(difference: dict, n: int, level: float) -> float | None:
    """The n at which an interval of this difference would just exclude 0, if its s.e. falls as
    1/sqrt(n) (None when the difference is 0)."""
    if difference["value"] == 0:
        return None
    t = scipy.stats.t.ppf((1 + level) / 2, 1e6)  # large-sample quantile
    return math.ceil(n * (t * difference["se"] / abs(difference["value"])) ** 2)


def rank(
    runs: list[Run],
    scores: dict[tuple[str, str], Score],
    yardstick: Yardstick,
    fast_nfe: int,
    level: float = 0.95,
) -> dict:
    """Per-schedule tables, the best run overall and per schedule, the comparisons behind each
    claim, and the standard error against n."""
    real = yardstick.real
    schedules: dict[str, dict] = {}
    for s in dict.fromkeys(r.schedule for r in runs):
        exact = scores[(s, "exact")]
        table = {}
        for r in (r for r in runs if r.schedule == s):
            score = scores[(s, r.key)]
            row = {**_describe(r), **score.to_dict(level), "vs_real": compare(score, real, level)}
            if r.sampler != "exact":
                row["vs_exact"] = compare(score, exact, level)
            table[r.key] = row
        own = [r for r in runs if r.schedule == s]
        best = min(own, key=lambda r: _kid(scores[(s, r.key)]))
        entry = {"runs": table, "best": {"key": best.key, **_describe(best)}}
        fast = [r for r in own if r.nfe <= fast_nfe and r.sampler != "exact"]
        if fast:
            f = min(fast, key=lambda r: _kid(scores[(s, r.key)]))
            entry["best_fast"] = {
                "key": f.key,
                **_describe(f),
                "vs_exact": compare(scores[(s, f.key)], exact, level),
            }
        schedules[s] = entry

    ordered = sorted(runs, key=lambda r: _kid(scores[(r.schedule, r.key)]))
    best, runner_up = ordered[0], ordered[1] if len(ordered) > 1 else None
    best_score = scores[(best.schedule, best.key)]
    result = {
        "schedules": schedules,
        "best": {
            "schedule": best.schedule,
            "key": best.key,
            **_describe(best),
            **best_score.to_dict(level),
            "vs_real": compare(best_score, real, level),
        },
    }
    d = result["best"]["vs_real"]
    d["within_3_se"] = bool(d["value"] <= 3 * d["se"])
    result["real_below_every_run"] = bool(
        all(real.kid.value < s.kid.value for s in scores.values())
    )
    first = next(iter(schedules))
    result["schedule_comparison"] = {
        s: compare(scores[(s, "exact")], scores[(first, "exact")], level)
        for s in schedules
        if s != first
    }

    n = best_score.n
    sizes = [m for m in (n // 8, n // 4, n // 2, n) if m >= yardstick.kid_reference.n_groups]
    against_n = {"best": yardstick.against_n(best_score, None, sizes, level)}
    if runner_up is not None:
        other = scores[(runner_up.schedule, runner_up.key)]
        diff = compare(best_score, other, level)
        diff["n_to_resolve"] = n_to_resolve(diff, n, level)
        result["best"]["runner_up"] = {
            "schedule": runner_up.schedule,
            "key": runner_up.key,
            **_describe(runner_up),
        }
        result["best"]["vs_runner_up"] = diff
        against_n["best_vs_runner_up"] = yardstick.against_n(best_score, other, sizes, level)
    result["against_n"] = against_n
    return result


def inception_scores(
    p: Section, runs: list[Run], reference: np.ndarray, real: np.ndarray, n_levels: int, device
) -> dict:
    """KID, FID, precision and recall of every run on Inception features (published scale), with
    the yardstick settings of the sample params `p`."""
    from lib.images.inception import inception_features, load_inception

    net = load_inception(p.inception.weights, device)

    def features(images: np.ndarray) -> torch.Tensor:
        return inception_features(net, images, n_levels, p.inception.batch_size)

    y = p.yardstick
    stick = Yardstick(features, reference, real, n_groups=y.n_groups, k=y.k, seed=p.seed)
    scores: dict[str, dict] = {}
    for r in runs:
        scores.setdefault(r.schedule, {})[r.key] = stick.score(r.images).to_dict(y.level)
    return {"real_vs_real": stick.real.to_dict(y.level), "schedules": scores}
