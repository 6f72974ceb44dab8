"""The transport study's jobs: one per pair, coupling and seed, in that order."""

from pathlib import Path

import yaml

from lib.flows.transport_study import PairSummary, jobs
from lib.params import validate_section

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def test_one_job_per_pair_coupling_and_seed():
    section = {
        **PARAMS["transport"],
        "pairs": [["cats", "dogs"], ["moons", "rings"]],
        "seeds": [0, 3],
    }
    section["couplings"] = ["independent", "minibatch_ot"]
    p = validate_section("transport", section)
    got = [(j.source, j.target, j.coupling, j.seed) for j in jobs(p)]
    assert len(got) == 2 * 2 * 2
    assert got[:3] == [
        ("cats", "dogs", "independent", 0),
        ("cats", "dogs", "independent", 3),
        ("cats", "dogs", "minibatch_ot", 0),
    ]
    assert got[-1] == ("moons", "rings", "minibatch_ot", 3)


def test_pair_key_names_source_and_target():
    pair = PairSummary("moons", "gmm8_circle", {}, {}, 0.0, {})
    assert pair.key == "moons_to_gmm8_circle"
