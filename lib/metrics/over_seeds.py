"""Comparisons of two results summarised over seeds ({"mean", "sd", "n"}, `distances.mean_sd`).

The difference of means gets a Welch t interval, sqrt(sd_a^2 / n_a + sd_b^2 / n_b) with the
Welch–Satterthwaite degrees of freedom. Runs that share their seeds (one trained model scored
two ways) are positively correlated, so this interval is wider than a paired one: a verdict it
resolves holds a fortiori. A side with one seed has no spread to compare: "not resolved".
`compare_to_value` sets one result against a fixed number (a truth computed on the same test
points): a one-sample t interval.
"""

from __future__ import annotations

import math

import scipy.stats


def compare_over_seeds(a: dict, b: dict, level: float = 0.95) -> dict:
    """mean_a - mean_b with its Welch interval and a verdict: "lower" / "higher" when the
    interval lies below / above 0, else "not resolved" (also when a side has one seed, or both
    have zero spread but differ: no interval can be formed). `reason` says why when unresolved."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    for name, s in (("a", a), ("b", b)):
        if not {"mean", "sd", "n"} <= set(s):
            raise ValueError(f"{name} must have mean, sd and n over seeds, got keys {sorted(s)}")
    diff = float(a["mean"]) - float(b["mean"])
    out = {"difference": diff, "ci_low": None, "ci_high": None, "dof": None}
    na, nb = int(a["n"]), int(b["n"])
    if min(na, nb) < 2:
        return {**out, "verdict": "not resolved", "reason": "1 seed"}
    va, vb = float(a["sd"]) ** 2 / na, float(b["sd"]) ** 2 / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return {**out, "verdict": "not resolved", "reason": "no spread over seeds"}
    dof = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = float(scipy.stats.t.ppf((1 + level) / 2, dof)) * se
    low, high = diff - half, diff + half
    verdict = "lower" if high < 0 else "higher" if low > 0 else "not resolved"
    reason = "interval includes 0" if verdict == "not resolved" else ""
    return {**out, "ci_low": low, "ci_high": high, "dof": dof, "verdict": verdict, "reason": reason}


def compare_to_value(a: dict, value: float, level: float = 0.95) -> dict:
    """mean_a - value with the one-sample t interval over a's seeds (n_a - 1 degrees of freedom)
    and the verdict of `compare_over_seeds`: a fixed number has no spread of its own."""
    return compare_over_seeds(a, {"mean": float(value), "sd": 0.0, "n": 2}, level)
