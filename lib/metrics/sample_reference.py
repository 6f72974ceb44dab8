"""The sample stage's yardstick and its best flow run, rebuilt in another stage: the same
classifier features, the same held-out split into reference and real sets (sample.seed,
sample.yardstick), so KIDs are comparable with sample's and paired by reference group, and the
flow models' best images (results/sample/samples.npz) are scored against the same reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lib.images import classifier
from lib.infra import layout
from lib.infra.io import load_npz, read_json
from lib.metrics.yardstick import Score, Yardstick, split_held_out

SAMPLE = layout.results("sample")


@dataclass(frozen=True, eq=False)
class FlowReference:
    """The flow models' sampler runs as sample scored them, and its best run rescored here."""

    runs: list[dict]  # every run: schedule, key, sampler, nfe, kid {value, se, ...}
    best: dict  # sample's "best" entry (schedule, key, sampler, nfe, ...)
    score: Score  # the best run's images scored on this yardstick


def sample_yardstick(sample_p, data, device) -> tuple[Yardstick, FlowReference]:
    """(sample's yardstick, the flow reference) for the sample params `sample_p`."""
    needed = [layout.CLASSIFIER, SAMPLE / "metrics.json", SAMPLE / "samples.npz"]
    missing = [str(f) for f in needed if not f.exists()]
    if missing:
        raise SystemExit(f"error: the score-SDE table needs the sample stage's {missing}")
    clf = classifier.load_classifier(layout.CLASSIFIER, device)
    k, y = data.n_levels, sample_p.yardstick

    def features(images: np.ndarray) -> torch.Tensor:
        return classifier.extract_features(clf, classifier.to_model_scale(images, k, device))

    held_out = np.concatenate([data.val.images, data.test.images])
    reference, real = split_held_out(held_out, y.n_reference, sample_p.seed)
    stick = Yardstick(features, reference, real, n_groups=y.n_groups, k=y.k, seed=sample_p.seed)
    metrics = read_json(SAMPLE / "metrics.json")
    runs = [
        {"schedule": s, "key": key, **run}
        for s, entry in metrics["schedules"].items()
        for key, run in entry["runs"].items()
    ]
    best = metrics["best"]
    images = load_npz(SAMPLE / "samples.npz")[f"{best['schedule']}.{best['key']}"]
    return stick, FlowReference(runs, best, stick.score(images))
