"""Training curves through dvclive: the files it leaves are the values, step by step, and
nothing else (no summary, dvc.yaml, report or timestamps), so a stage's outputs stay
deterministic."""

import math

import torch
from torch import nn

from lib.training.curves import log_curves, save_fit


def _files(root) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_log_curves_writes_the_values_and_nothing_else(tmp_path):
    live = log_curves(tmp_path, "fit", [1.5, 0.25, 0.125], [0, 3], [-2.0, math.nan], "elbo")
    assert live == tmp_path / "live" / "fit"
    assert _files(live) == {
        "plots/metrics/train/loss.tsv": "step\tloss\n1\t1.5\n2\t0.25\n3\t0.125\n",
        "plots/metrics/val/elbo.tsv": "step\telbo\n0\t-2.0\n3\tnan\n",
    }
    before = _files(live)
    log_curves(tmp_path, "fit", [1.5, 0.25, 0.125], [0, 3], [-2.0, math.nan], "elbo")
    assert _files(live) == before  # rewritten, not appended: the same values, the same bytes


def test_save_fit_writes_weights_and_curves(tmp_path):
    model = nn.Linear(2, 1)
    save_fit(tmp_path, tmp_path / "models" / "m_seed0.pt", model, [0.5], [], "", [])
    saved = torch.load(tmp_path / "models" / "m_seed0.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert _files(tmp_path / "live" / "m_seed0") == {
        "plots/metrics/train/loss.tsv": "step\tloss\n1\t0.5\n"
    }
