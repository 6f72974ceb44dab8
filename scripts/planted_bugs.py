"""Plant each bug of a fixed table, one at a time, and check that the matching tests fail.

The table holds small, realistic bugs in the maths (a factor in the score drift, a dropped
1/s^2, n instead of n - 1, overlapping splits, a removed gradient clip); a review once found
that no test caught any of them. Each is planted in a scratch copy of the repository (the
working tree is never edited), the matching test files run with `-x`, and the bug counts as
caught when pytest fails. Exits 1 if any bug survives, 2 if a bug no longer applies (its
`old` text is not found exactly once: the table must follow the code).

    python -m scripts.planted_bugs            # all bugs (about 5 minutes on 2 cores)
    python -m scripts.planted_bugs --only mmd # those whose name contains "mmd"
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPY = ["lib", "tests", "pyproject.toml", "params.yaml", "dvc.yaml"]


@dataclass(frozen=True)
class Bug:
    name: str
    path: str  # the file the bug is planted in
    old: str  # text found exactly once in it
    new: str  # what replaces it
    tests: tuple[str, ...]  # the test files expected to catch it


BUGS = [
    Bug(
        "SDE sampler drift u + g^2 s (not u + g^2 s / 2)",
        "lib/sde/langevin.py",
        "return 0.5 * diffusion_sq * score",
        "return diffusion_sq * score",
        ("tests/sde/test_samplers.py",),
    ),
    Bug(
        "SDE sampler drift u + g^2 s / 4",
        "lib/sde/langevin.py",
        "return 0.5 * diffusion_sq * score",
        "return 0.25 * diffusion_sq * score",
        ("tests/sde/test_samplers.py",),
    ),
    Bug(
        "CNF kinetic energy without its 1/s^2",
        "lib/flows/cnf.py",
        "kinetic = (f**2 * inv_var).sum(-1)",
        "kinetic = (f**2).sum(-1)",
        ("tests/flows/test_cnf.py",),
    ),
    Bug(
        "CNF fit: kinetic penalty with the wrong sign",
        "lib/flows/cnf.py",
        "return nll + kinetic_weight * kinetic.mean()",
        "return nll - kinetic_weight * kinetic.mean()",
        ("tests/flows/test_cnf.py",),
    ),
    Bug(
        "FID feature covariance with 1/n",
        "lib/metrics/sample_quality.py",
        "np.cov(x, rowvar=False)",
        "np.cov(x, rowvar=False, bias=True)",
        ("tests/metrics/test_sample_quality.py",),
    ),
    Bug(
        "FID-over-chunks standard error with ddof = 0",
        "lib/metrics/sample_quality.py",
        "values.std(ddof=1)",
        "values.std(ddof=0)",
        ("tests/metrics/test_sample_quality.py",),
    ),
    Bug(
        "real comparison set overlapping the reference set",
        "lib/metrics/yardstick.py",
        "pool[perm[n_reference:]]",
        "pool[perm[n_reference // 2 :]]",
        ("tests/metrics/test_yardstick.py",),
    ),
    Bug(
        "real comparison set drawn from a pool that includes the reference",
        "lib/metrics/yardstick.py",
        "pool[perm[n_reference:]]",
        "pool[np.random.default_rng(seed + 1).permutation(len(pool))[n_reference:]]",
        ("tests/metrics/test_yardstick.py",),
    ),
    Bug(
        "RBF MMD kernel exp(-d^2 / h^2) (not 2 h^2)",
        "lib/metrics/distances.py",
        "h2 = 2 * torch.tensor(",
        "h2 = 1 * torch.tensor(",
        ("tests/metrics/test_distances.py",),
    ),
    Bug(
        "sd over seeds with ddof = 0",
        "lib/metrics/distances.py",
        "sd = v.std().item()",
        "sd = v.std(correction=0).item()",
        ("tests/metrics/test_distances.py",),
    ),
    Bug(
        "ELBO standard error with n (not n - 1)",
        "lib/sde/elbo.py",
        "terms.path.double().var(1)",
        "terms.path.double().var(1, correction=0)",
        ("tests/sde/test_elbo.py",),
    ),
    Bug(
        "expected log-likelihood standard error with n (not n - 1)",
        "lib/data/toy.py",
        "lp.std().item()",
        "lp.std(correction=0).item()",
        ("tests/data/test_toy.py",),
    ),
    Bug(
        "gradient clipping removed from the training loop",
        "lib/training/loop.py",
        "nn.utils.clip_grad_norm_(params, grad_clip)",
        "pass",
        ("tests/training/test_loop.py",),
    ),
    Bug(
        "validation split overlapping half of the training split",
        "lib/data/toy.py",
        "x[n_train : n_train + n_val]",
        "x[n_train // 2 : n_train // 2 + n_val]",
        ("tests/data/test_toy.py",),
    ),
]


def plant(scratch: Path, bug: Bug) -> str:
    """Apply the bug in the scratch copy; returns the original text of the file."""
    path = scratch / bug.path
    text = path.read_text()
    if text.count(bug.old) != 1:
        raise LookupError(f"{bug.path}: {bug.old!r} found {text.count(bug.old)} times, not once")
    path.write_text(text.replace(bug.old, bug.new))
    return text


def caught(scratch: Path, bug: Bug) -> tuple[bool, str]:
    """Whether the bug's tests fail; the last line pytest printed."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *bug.tests],
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    last = (run.stdout.strip().splitlines() or [""])[-1]
    if run.returncode not in (0, 1):  # collection errors, usage errors: not a verdict
        raise RuntimeError(f"pytest exited {run.returncode} for {bug.name!r}:\n{run.stdout}")
    return run.returncode == 1, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the bugs whose name contains this text")
    args = parser.parse_args()
    bugs = [b for b in BUGS if args.only in b.name]
    if not bugs:
        print(f"no bug's name contains {args.only!r}", file=sys.stderr)
        return 2
    survived, stale = [], []
    with tempfile.TemporaryDirectory(prefix="planted_bugs_") as tmp:
        scratch = Path(tmp)
        for name in COPY:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, scratch / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(src, scratch / name)
        for bug in bugs:
            start = time.perf_counter()
            try:
                original = plant(scratch, bug)
            except LookupError as err:
                stale.append(bug.name)
                print(f"STALE    {bug.name}: {err}")
                continue
            try:
                hit, last = caught(scratch, bug)
            finally:
                (scratch / bug.path).write_text(original)
            seconds = time.perf_counter() - start
            print(f"{'caught' if hit else 'SURVIVED':8} {bug.name} ({seconds:.0f} s): {last}")
            if not hit:
                survived.append(bug.name)
    print(f"{len(bugs) - len(survived) - len(stale)} of {len(bugs)} planted bugs caught")
    if stale:
        return 2
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
