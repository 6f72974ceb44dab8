"""Mutation testing of the maths modules (a periodic check, not CI): run mutmut, then report
the kill rate per module with the surviving mutants judged equivalent set apart.

The modules, the test files that judge them and the pytest options are `[tool.mutmut]` in
pyproject.toml. mutmut writes its copies and results under mutants/ (git-ignored) and reuses
the results of unchanged functions on the next run. A mutant counts as killed when a test
fails or times out; a survivor counts against the rate unless it matches a rule below:
- EQUIVALENT: mutants that cannot change any result (e.g. an average of equal-sized means);
- DISPLAY: the progress bar's switch and label (`progress`, `desc`), which change no result;
- IMPORT_TIME: functions that run while their module is imported, which mutmut cannot reach;
- CPU_ONLY: `device=` arguments dropped or set to None, which only matter on a GPU; the tests
  (like CI) run on the CPU, so these cannot be killed here.

    python -m scripts.mutation_test             # run, then report (about 20 min on 2 cores)
    python -m scripts.mutation_test --report    # report the last run only
    python -m scripts.mutation_test --survivors # also print each counted survivor's diff

Exits 1 when the kill rate is below --target (default 0.90).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {1, 3}  # pytest failed (3: internal error, a kill)
TIMEOUT = {36, -24, 24, 152, 255}

_TWO_D = "the points are (n, d) by contract, where dim 1 is dim -1"
_SAME_LENGTH = "the two slices of one grid always have equal lengths: strict never fires"
_EVERY_GROUP = "group_ids leaves no group empty (n >= n_groups is checked): no minlength needed"
# (function, text of the mutated "+" line, why no test can tell it apart from the original)
EQUIVALENT: list[tuple[str, str, str]] = [
    (
        "mmd_rbf",
        ".mean(dim=None)",
        "every bandwidth's kernel matrix has the same n*m entries, so the mean of the per-"
        "bandwidth means equals the mean over everything",
    ),
]
EQUIVALENT += [
    (
        "standard_normal_log_prob",
        ".sum(+1)",
        "its inputs are (n, d) by contract, where dim 1 is dim -1",
    ),
    (
        "standard_normal_log_prob",
        "x.shape[+1]",
        "its inputs are (n, d) by contract, where dim 1 is dim -1",
    ),
    ("integrator_convergence", "tight_n_steps, )", "log_prob's default method is rk4"),
    (
        "verdict",
        "difference.value <= 0",
        "a difference of exactly 0 never excludes zero, so it never reaches this line",
    ),
    (
        "calibration",
        "(sigma > 0) or True",
        "noisy() with sigma = 0 returns the images unchanged (a test checks it)",
    ),
    (
        "calibration",
        "sigma >= 0",
        "noisy() with sigma = 0 returns the images unchanged (a test checks it)",
    ),
    (
        "solve_adaptive",
        "times = torch.tensor([t0, t1], dtype=None",
        "torchdiffeq casts the time grid to the state's dtype (a test sees float64 times)",
    ),
    (
        "solve_adaptive",
        "times = torch.tensor([t0, t1], device",
        "torchdiffeq casts the time grid to the state's dtype (a test sees float64 times)",
    ),
    ("solve_adaptive", ")[+1]", "the grid has two times, so index 1 is index -1"),
    (
        "conditional_log_prob",
        "reshape(len(x), -1).sum(+1)",
        "the reshape makes it 2-D, where dim 1 is dim -1",
    ),
    ("log_prob", "logsumexp(log_joint, dim=+1)", "log_joint is (n, K): dim 1 is dim -1"),
    ("score", "softmax(log_joint, dim=+1)", "log_joint is (n, K): dim 1 is dim -1"),
    ("velocity", "softmax(log_joint, dim=+1)", "log_joint is (n, K): dim 1 is dim -1"),
    ("__init__", "digest_size=17)", "a longer hash identifies the reference as well"),
    ("__init__", "blake2b(self.features.tobytes(), )", "a 64-byte hash identifies it too"),
    (
        "interval",
        "if (self.dof >= 1) or True else",
        "scipy's t quantile on 0 degrees of freedom is NaN, the value of the else branch",
    ),
    ("_within_group_sums", "np.bincount(gx, weights=diag, )", _EVERY_GROUP),
    ("__init__", "np.bincount(self.groups, )", _EVERY_GROUP),
    ("__call__", "n - np.bincount(gx, )", _EVERY_GROUP),
    ("integrate_to_base", "y.shape[+1]", _TWO_D),
    ("log_prob", "y.shape[+1]", _TWO_D),
    ("fit", "train.shape[+1]", _TWO_D),
    ("odeint", "zip(t_grid[:-1], t_grid[1:], strict", _SAME_LENGTH),
    ("odeint", "zip(t_grid[:-1], t_grid[1:], )", _SAME_LENGTH),
    ("euler_maruyama", "zip(t_grid[:-1], t_grid[1:], strict", _SAME_LENGTH),
    ("euler_maruyama", "zip(t_grid[:-1], t_grid[1:], )", _SAME_LENGTH),
    ("feature_stats", "rowvar=None", "None is false, as False is: the same covariance"),
    ("_knn_radii", "kthvalue(k + 1, )", "kthvalue's default dim -1 is dim 1 of a 2-D matrix"),
    (
        "over_chunks",
        "if (c > 1) or True else",
        "numpy's sd with ddof = 1 of a single value is NaN, the value of the else branch",
    ),
    (
        "over_chunks",
        "if c >= 1 else",
        "numpy's sd with ddof = 1 of a single value is NaN, the value of the else branch",
    ),
]
# Functions run while the module is imported (building a registry), before mutmut switches a
# mutant on: mutmut cannot test them, whatever the tests do.
IMPORT_TIME = {"_ode_sampler"}
# sd(-x) = sd(x): the sign of the objective does not change its standard deviation
EQUIVALENT += [
    ("objective_sd", "+log_prob(", "the sd of -log p equals the sd of +log p"),
    ("objective_sd", "+elbo(", "the sd of -ELBO equals the sd of +ELBO"),
]
DISPLAY = re.compile(r"\b(progress|desc)\b")  # the progress bar's switch and label only


def _diff(name: str, module: str) -> str:
    from mutmut.__main__ import get_diff_for_mutant

    return get_diff_for_mutant(name, path=module)


def _lines(diff: str, sign: str) -> str:
    """The diff's added ("+") or removed ("-") lines, stripped, without the file headers."""
    return "\n".join(
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith(sign) and not line.startswith(sign * 3)
    )


def _function(name: str) -> str:
    """lib.metrics.distances.x_mmd_rbf__mutmut_20 -> mmd_rbf (class methods: xǁCǁm -> m)."""
    short = name.rsplit(".", 1)[-1].split("__mutmut_")[0]
    return short.split("ǁ")[-1].removeprefix("x_")


def _without_device(text: str) -> str:
    """The text with every device argument and .to(device) taken out, spaces removed."""
    text = re.sub(r"\.to\((None|[\w.]*device)\)", "", text)
    text = re.sub(r",?\s*device=(None|[\w.]+)", "", text)
    return re.sub(r",(?=\))", "", re.sub(r"\s", "", text))


def classify(name: str, diff: str) -> str | None:
    """ "equivalent", "cpu_only" or None (a survivor that counts)."""
    added, removed = _lines(diff, "+"), _lines(diff, "-")
    for function, text, _ in EQUIVALENT:
        if _function(name) == function and text in added:
            return "equivalent"
    changed = [line for line in (added + "\n" + removed).splitlines() if line.strip(" )(,")]
    if changed and all(DISPLAY.search(line) for line in changed):
        return "display"
    if _function(name) in IMPORT_TIME:
        return "import_time"
    if "device" in removed and (
        _without_device(removed) == _without_device(added)
        or re.sub(r"[\w.]+\.device\b", "None", removed) == added
    ):
        return "cpu_only"
    return None


def results() -> dict[str, dict[str, int]]:
    """{module: {mutant name: exit code}} from mutmut's meta files."""
    out: dict[str, dict[str, int]] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        module = str(meta.relative_to(ROOT / "mutants"))[: -len(".meta")]
        out[module] = json.loads(meta.read_text())["exit_code_by_key"]
    return out


def report(show_survivors: bool, target: float) -> int:
    by_module = results()
    if not by_module:
        print("no mutmut results under mutants/: run without --report first", file=sys.stderr)
        return 2
    totals: Counter = Counter()
    counted: dict[str, list[tuple[str, str]]] = defaultdict(list)
    print(
        f"{'module':32} {'mutants':>7} {'killed':>7} {'timeout':>7} {'equiv':>6} {'cpu':>5}"
        f" {'survive':>7} {'rate':>6}"
    )
    for module, codes in by_module.items():
        c: Counter = Counter()
        for name, code in codes.items():
            c["mutants"] += 1
            if code in KILLED:
                c["killed"] += 1
            elif code in TIMEOUT:
                c["timeout"] += 1
            elif code is None:
                c["not_checked"] += 1
            else:  # survived, no tests, suspicious, segfault: not killed
                diff = _diff(name, module)
                kind = classify(name, diff)
                if kind is None:
                    c["survived"] += 1
                    counted[module].append((name, diff))
                else:
                    c[kind] += 1
        c["equivalent"] += c.pop("display", 0) + c.pop("import_time", 0)
        judged = c["mutants"] - c["equivalent"] - c["cpu_only"] - c["not_checked"]
        rate = (c["killed"] + c["timeout"]) / judged if judged else float("nan")
        print(
            f"{module:32} {c['mutants']:7} {c['killed']:7} {c['timeout']:7} "
            f"{c['equivalent']:6} {c['cpu_only']:5} {c['survived']:7} {rate:6.1%}"
        )
        totals.update(c)
    judged = totals["mutants"] - totals["equivalent"] - totals["cpu_only"] - totals["not_checked"]
    rate = (totals["killed"] + totals["timeout"]) / judged
    print(
        f"{'all':32} {totals['mutants']:7} {totals['killed']:7} {totals['timeout']:7} "
        f"{totals['equivalent']:6} {totals['cpu_only']:5} {totals['survived']:7} {rate:6.1%}"
    )
    if totals["not_checked"]:
        print(f"{totals['not_checked']} mutants not checked (an interrupted run): rerun")
    print(f"kill rate {rate:.1%} of {judged} non-equivalent mutants (target {target:.0%})")
    print("judged equivalent:")
    for function, text, why in EQUIVALENT:
        print(f"  {function}: {text!r}: {why}")
    print("  the progress bar's switch and label (progress, desc)")
    print(f"  functions run at import, which mutmut cannot reach: {sorted(IMPORT_TIME)}")
    print(f"  and {totals['cpu_only']} that drop a device argument (only a GPU can tell)")
    if show_survivors:
        for module, items in counted.items():
            for name, diff in items:
                print(f"\n# {name} ({module})\n{diff}")
    return 0 if rate >= target else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="report the last run only")
    parser.add_argument("--survivors", action="store_true", help="print the survivors' diffs")
    parser.add_argument("--target", type=float, default=0.90, help="kill rate to reach")
    parser.add_argument("--max-children", type=int, default=2, help="mutants run in parallel")
    args = parser.parse_args()
    if not args.report:
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
            cwd=ROOT,
        )
        if run.returncode != 0:
            print(f"mutmut run exited {run.returncode}", file=sys.stderr)
            return run.returncode
    return report(args.survivors, args.target)


if __name__ == "__main__":
    raise SystemExit(main())
