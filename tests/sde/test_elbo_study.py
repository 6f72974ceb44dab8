"""The sde_fit study: one job per dataset and seed; the per-dataset summary over seeds on fixed
numbers (mean, sample sd, gap to the truth, the largest Monte Carlo error)."""

import copy
from pathlib import Path

import pytest
import yaml

from lib.params import validate_section
from lib.sde.elbo_study import FitJob, FitRun, jobs, summarise
from lib.training.loop import TrainResult

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def _params():
    section = copy.deepcopy(PARAMS["sde_fit"])
    section.update(datasets=["gaussian", "laplace_mixture"], seeds=[3, 4])
    return validate_section("sde_fit", section)


def test_one_job_per_dataset_and_seed():
    p = _params()
    got = [(j.dataset, j.seed) for j in jobs(p)]
    assert got == [("gaussian", 3), ("gaussian", 4), ("laplace_mixture", 3), ("laplace_mixture", 4)]
    assert all(isinstance(j, FitJob) and j.params is p for j in jobs(p))
    assert jobs(p)[-1].tag == "laplace_mixture_seed4"


def test_summary_over_seeds_on_fixed_numbers():
    p = _params()

    def run(seed, elbo, stderr, obj_sd, beta, seconds):
        fit = TrainResult([], [], [], float("nan"), 0, seconds, 0)
        return FitRun(FitJob(p, "gaussian", seed), {}, fit, elbo, stderr, obj_sd, beta)

    runs = [run(3, -2.0, 0.01, 0.5, 0.1, 10.0), run(4, -1.0, 0.03, 1.5, 0.3, 20.0)]
    got = summarise(runs, -1.25)
    assert list(got) == [
        "truth",
        "test_elbo",
        "test_elbo_stderr",
        "gap",
        "beta_lik",
        "objective_sd",
        "train_seconds",
    ]
    assert got["test_elbo"] == pytest.approx({"mean": -1.5, "sd": 0.5**0.5, "n": 2})
    assert got["test_elbo_stderr"] == 0.03
    assert got["gap"] == pytest.approx(-0.25)
    assert got["beta_lik"] == pytest.approx(0.2)
    assert got["objective_sd"] == pytest.approx(1.0)
    assert got["train_seconds"] == pytest.approx(15.0)
