"""The ode_fit study: one job per dataset and network, its seeds fitted together; the per-dataset
summary over seeds on fixed numbers (mean, sample sd, gap to the truth, the eval grid's
convergence error)."""

import copy
from pathlib import Path

import pytest
import yaml

from lib.flows.cnf_study import FitGroup, FitJob, FitRun, cost, jobs, summarise
from lib.infra.parallel import longest_first
from lib.params import validate_section
from lib.training.loop import TrainResult

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def _params(**changes):
    section = copy.deepcopy(PARAMS["ode_fit"])
    section.update(
        datasets=["gaussian", "laplace_mixture"], seeds=[0, 1], variant_seeds=[7], **changes
    )
    section["main_network"] = next(iter(section["networks"]))
    return validate_section("ode_fit", section)


def _run(p, network: str, seed: int, ll: dict, seconds: float, obj_sd: float) -> FitRun:
    fit = TrainResult([], [], [], float("nan"), 0, seconds, 0)
    return FitRun(FitJob(p, "gaussian", network, seed), {}, fit, ll, obj_sd)


def test_one_group_per_dataset_and_network_over_its_seeds():
    p = _params()
    main, other = p.main_network, [n for n in p.networks if n != p.main_network]
    got = [(g.dataset, g.network, g.seeds) for g in jobs(p)]
    want = [
        (d, n, (0, 1) if n == main else (7,))
        for d in ("gaussian", "laplace_mixture")
        for n in p.networks
    ]
    assert got == want and other
    assert all(isinstance(g, FitGroup) and g.params is p for g in jobs(p))
    members = jobs(p)[0].members
    assert all(isinstance(j, FitJob) and j.params is p for j in members)
    assert [j.tag for j in members] == [f"gaussian_{main}_seed0", f"gaussian_{main}_seed1"]


def test_summary_over_seeds_on_fixed_numbers():
    p = _params()
    main, other = p.main_network, next(n for n in p.networks if n != p.main_network)
    methods = p.eval.methods
    runs = [
        _run(p, main, 0, {m: -1.0 - i for i, m in enumerate(methods)}, 2.0, 0.1),
        _run(p, main, 1, {m: -2.0 - i for i, m in enumerate(methods)}, 4.0, 0.3),
        _run(p, other, 7, {"rk4": -5.0}, 1.0, 9.0),
    ]
    n_steps = sorted({*p.eval.convergence_n_steps, p.eval.n_steps})
    conv = {"n_steps": n_steps, "errors": {"rk4": [float(n) for n in n_steps]}}
    got = summarise(p, runs, -1.0, conv)
    rk4 = methods.index("rk4")
    mean = -1.5 - rk4
    sd = 0.5**0.5  # sample sd of two values 1 apart
    assert list(got) == [
        "truth",
        "test_log_likelihood",
        "gap",
        "networks",
        "integrators",
        "eval_error_vs_tight",
        "objective_sd",
    ]
    assert got["test_log_likelihood"] == pytest.approx({"mean": mean, "sd": sd, "n": 2})
    assert got["gap"] == pytest.approx(mean + 1.0)
    assert got["networks"][main]["train_seconds"] == pytest.approx(3.0)
    assert got["networks"][other] == {  # one seed: exact
        "test_log_likelihood": {"mean": -5.0, "sd": 0.0, "n": 1},
        "gap": -4.0,
        "train_seconds": 1.0,
    }
    assert got["integrators"][methods[0]] == pytest.approx({"mean": -1.5, "sd": sd, "n": 2})
    assert got["eval_error_vs_tight"] == float(p.eval.n_steps)
    assert got["objective_sd"] == pytest.approx(0.2)


def test_the_groups_that_run_the_integrator_study_start_first():
    p = _params()
    order = [(g.dataset, g.network) for g in (jobs(p)[i] for i in longest_first(jobs(p), cost))]
    main = p.main_network
    assert order[:2] == [("gaussian", main), ("laplace_mixture", main)]
    assert cost(jobs(p)[0]) == 2 * 2 + 1  # two seeds of three integrators, one integrator study
