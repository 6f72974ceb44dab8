"""The transport study's jobs: one per pair, coupling and seed, in that order."""

from pathlib import Path

import pytest
import torch
import yaml

from lib.flows.transport_study import PairSummary, TransportRun, jobs, paired_difference
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


def _run(points) -> TransportRun:
    return TransportRun(None, [], [], float(points.mean()), points, torch.zeros(2, 1, 2))


def test_paired_straightness_difference_by_hand():
    a = _run(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    b = _run(torch.tensor([1.1, 1.0, 1.5, 1.2]))
    d = paired_difference([a], [b])  # differences -1.0, -0.8, -1.2, -0.8: mean -0.95
    se = torch.tensor([-1.0, -0.8, -1.2, -0.8]).double().std().item() / 2
    assert d["value"] == pytest.approx(-0.95) and d["se"] == pytest.approx(se)
    assert d["ci_high"] == pytest.approx(-0.95 + 3.182446 * se, rel=1e-6)  # t_{3, 0.975}
    assert d["verdict"] == "lower" and d["n_points"] == 4
    same = paired_difference(
        [b], [_run(b.straightness_points + torch.tensor([0.1, -0.1, 0.1, -0.1]))]
    )
    assert same["verdict"] == "not resolved"
