"""Where the pipeline's files live, in one place: stages read and write only these paths, and
dvc.yaml declares the same ones as deps and outs (tests/test_dvc_yaml.py checks the outs)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
MODELS = Path("models")
RESULTS = Path("results")
CHECKPOINTS = Path("checkpoints")  # outside every stage's outs: a killed run resumes from them

IMAGES = DATA / "images"  # the image dataset (one .npz)
CLASSIFIER = MODELS / "classifier" / "classifier.pt"


def toy_data(dim: int, name: str) -> Path:
    """The splits of a 1D or 2D toy dataset."""
    return DATA / {1: "one_d", 2: "two_d"}[dim] / f"{name}.npz"


def model(stage: str, tag: str) -> Path:
    """A fitted model's weights (with its training state) written by `stage`."""
    return MODELS / stage / f"{tag}.pt"


def checkpoint(stage: str, tag: str) -> Path:
    """The resumable training state of one model while its training runs."""
    return CHECKPOINTS / f"{stage}_{tag}.pt"


def results(stage: str) -> Path:
    """A stage's metrics, params, plots and figures."""
    return RESULTS / stage
