"""The flow2d study's jobs: one per variant and seed, a variant's own seeds over the section's."""

from pathlib import Path

import pytest
import torch
import yaml

from lib.flows.flow2d_study import FlowJob, corrupt, cost, jobs
from lib.infra.parallel import longest_first
from lib.params import validate_section

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def test_one_job_per_variant_and_seed():
    section = PARAMS["flow2d"]
    section["seeds"] = [0, 1]
    section["variants"]["reference"]["seeds"] = None
    section["variants"]["tuned_cosine"]["seeds"] = [5]
    p = validate_section("flow2d", section)
    got = [(j.variant, j.seed) for j in jobs(p)]
    assert got == [
        ("reference", 0),
        ("reference", 1),
        ("tuned", 0),
        ("tuned", 1),
        ("tuned_cosine", 5),
    ]
    assert all(isinstance(j, FlowJob) and j.params is p for j in jobs(p))


def test_cost_counts_training_examples_and_the_main_variants_score_model():
    section = PARAMS["flow2d"]
    section["seeds"] = [0]
    for name, (n_iters, batch_size) in {
        "reference": (100, 10),
        "tuned": (100, 20),
        "tuned_cosine": (100, 30),
    }.items():
        section["variants"][name].update(seeds=None, n_iters=n_iters, batch_size=batch_size)
    section["main_variant"] = "tuned"
    section["score"].update(n_iters=50, batch_size=40)
    p = validate_section("flow2d", section)
    assert [cost(j) for j in jobs(p)] == [1000, 2000 + 2000, 3000]
    assert longest_first(jobs(p), cost) == [1, 2, 0]


def test_structure_left_is_scale_free_so_equal_snr_scores_equal():
    """At t = 1/2 linear (alpha = sigma = 1/2) and cosine (alpha = sigma = 1/sqrt 2) share
    alpha_t / sigma_t = 1: their x_t differ by a factor sqrt 2 only, so they score the same;
    t = 1 is the data itself (1), and t = 0 pure noise (the noise sample's own distance, small)."""
    gen = torch.Generator().manual_seed(0)
    z = 4 * torch.randn(400, 2, generator=gen).sign() + 0.3 * torch.randn(400, 2, generator=gen)
    eps, noise = torch.randn((2, 400, 2), generator=gen)
    c = corrupt(z, eps, noise, ["linear", "cosine"], [0.0, 0.25, 0.5, 1.0])
    lin, cos = c.structure_left["linear"], c.structure_left["cosine"]
    assert lin["t_0p5"] == pytest.approx(cos["t_0p5"], rel=1e-5)  # float32 points
    assert lin["t_1"] == pytest.approx(1.0) and cos["t_1"] == pytest.approx(1.0)
    assert lin["t_0"] < 0.05 and cos["t_0"] < 0.05
    # at t = 1/4 cosine's SNR (tan(pi / 8) = 0.414) is above linear's (1/3): more structure left
    assert cos["t_0p25"] > lin["t_0p25"]
    assert len(c.rows["linear"]) == 4 and c.rows["linear"][2].shape == (400, 2)
