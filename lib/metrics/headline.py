"""The pipeline's headline numbers: where each lives in the stages' metrics files.

`HEADLINES` maps a key of the `metrics` stage's output to (stage, dotted key in that stage's
metrics.json). `gather` reads them all and fails, naming the stage and key, when one is
missing, so that a renamed metric cannot silently drop out of `dvc metrics diff`.
"""

from __future__ import annotations

from pathlib import Path

from lib.infra.io import read_json

HEADLINES: dict[str, tuple[str, str]] = {
    # primer: observed convergence orders of the ODE solvers
    "primer.euler_order": ("primer", "solvers.euler.observed_order"),
    "primer.heun_order": ("primer", "solvers.heun.observed_order"),
    "primer.rk4_order": ("primer", "solvers.rk4.observed_order"),
    # 1D: test log-likelihood (CNF) and ELBO (SDE) minus the true density's, 3 seeds
    "one_d.gaussian.cnf_log_likelihood": ("ode_fit", "gaussian.test_log_likelihood.mean"),
    "one_d.gaussian.cnf_gap": ("ode_fit", "gaussian.gap"),
    "one_d.gaussian.sde_elbo": ("sde_fit", "gaussian.test_elbo.mean"),
    "one_d.gaussian.sde_gap": ("sde_fit", "gaussian.gap"),
    "one_d.gaussian.truth": ("ode_fit", "gaussian.truth"),
    "one_d.laplace_mixture.cnf_log_likelihood": (
        "ode_fit",
        "laplace_mixture.test_log_likelihood.mean",
    ),
    "one_d.laplace_mixture.cnf_gap": ("ode_fit", "laplace_mixture.gap"),
    "one_d.laplace_mixture.sde_elbo": ("sde_fit", "laplace_mixture.test_elbo.mean"),
    "one_d.laplace_mixture.sde_gap": ("sde_fit", "laplace_mixture.gap"),
    "one_d.laplace_mixture.truth": ("ode_fit", "laplace_mixture.truth"),
    # 2D flow matching: log-likelihood gap and sample distance against the held-out floor
    "two_d.log_likelihood": ("flow2d", "log_likelihood.mean"),
    "two_d.gap": ("flow2d", "gap"),
    "two_d.mmd": ("flow2d", "mmd.mean"),
    "two_d.mmd_floor": ("flow2d", "floor.mmd"),
    # images: the yardstick (KID with its s.e. on the classifier's features), best sampler
    "images.classifier_test_accuracy": ("classifier", "test_accuracy"),
    "images.classifier_val_accuracy": ("classifier", "val_accuracy"),
    "images.n_images": ("sample", "n_images"),
    "images.n_reference": ("sample", "n_reference"),
    "images.n_real": ("sample", "n_real"),
    "images.real_vs_real_kid": ("sample", "real_vs_real.kid.value"),
    "images.real_vs_real_kid_se": ("sample", "real_vs_real.kid.se"),
    "images.real_vs_real_fid": ("sample", "real_vs_real.fid.value"),
    "images.best_kid": ("sample", "best.kid.value"),
    "images.best_kid_se": ("sample", "best.kid.se"),
    "images.best_fid": ("sample", "best.fid.value"),
    "images.best_precision": ("sample", "best.precision.value"),
    "images.best_recall": ("sample", "best.recall.value"),
    "images.best_minus_real_kid": ("sample", "best.vs_real.value"),
    "images.best_minus_real_kid_se": ("sample", "best.vs_real.se"),
    "images.best_vs_runner_up": ("sample", "best.vs_runner_up.verdict"),
    "images.best_sampler": ("sample", "best.sampler"),
    "images.best_nfe": ("sample", "best.nfe"),
    "images.best_schedule": ("sample", "best.schedule"),
    # images: dequantized bits/dim of a flow, exact and Hutchinson divergence
    "images.bits_per_dim.dataset": ("bits_per_dim", "dataset"),
    "images.bits_per_dim.schedule": ("bits_per_dim", "schedule"),
    "images.bits_per_dim.exact": ("bits_per_dim", "exact"),
    "images.bits_per_dim.hutchinson": ("bits_per_dim", "hutchinson"),
    "images.bits_per_dim.hutchinson_minus_exact": ("bits_per_dim", "hutchinson_minus_exact"),
    "images.bits_per_dim.solver_error": ("bits_per_dim", "solver_error"),
    "images.bits_per_dim.tight_n_steps": ("bits_per_dim", "tight_n_steps"),
}


def lookup(metrics: dict, dotted: str):
    """metrics["a"]["b"] for "a.b"; KeyError naming the missing part."""
    value = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"{dotted!r} (no {part!r})")
        value = value[part]
    return value


def nest(flat: dict[str, object]) -> dict:
    """{"a.b": 1, "a.c": 2} -> {"a": {"b": 1, "c": 2}}; ValueError naming both keys when one key
    is a dotted prefix of another ("a" and "a.b": a value cannot also hold a subtree)."""
    out: dict = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(
                    f"keys clash: {key!r} needs a subtree where another key is a value"
                )
        if last in node:
            raise ValueError(f"keys clash: {key!r} would replace what another key put there")
        node[last] = value
    return out


def gather(results: str | Path, headlines: dict[str, tuple[str, str]] = HEADLINES) -> dict:
    """The headline numbers, nested on their dots, from results/<stage>/metrics.json."""
    cache: dict[str, dict] = {}
    flat = {}
    for key, (stage, dotted) in headlines.items():
        if stage not in cache:
            path = Path(results) / stage / "metrics.json"
            if not path.exists():
                raise FileNotFoundError(f"headline {key!r} needs {path}: run the {stage} stage")
            cache[stage] = read_json(path)
        try:
            flat[key] = lookup(cache[stage], dotted)
        except KeyError as err:
            raise KeyError(f"headline {key!r}: {stage} metrics have no {err.args[0]}") from None
    return nest(flat)
