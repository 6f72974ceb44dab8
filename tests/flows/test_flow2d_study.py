"""The flow2d study's jobs: one per variant and seed, a variant's own seeds over the section's."""

from pathlib import Path

import yaml

from lib.flows.flow2d_study import FlowJob, jobs
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
