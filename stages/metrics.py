"""Stage metrics: every headline number of the pipeline in one DVC metrics file, and bits/dim
of an image flow via the probability-flow ODE, with the exact and the Hutchinson divergence."""

from __future__ import annotations

import torch

from lib.flows.likelihood import bits_per_dim
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.stage import RESULTS, run_stage
from lib.metrics.headline import gather
from lib.nets.unet import load_unet


def main(p, device, out):
    b = p.bits_per_dim
    model_path = layout.model("train_flow", f"velocity_{b.schedule}")
    if not model_path.exists():
        raise SystemExit(
            f"error: metrics.bits_per_dim.schedule = {b.schedule!r} has no flow model "
            f"({model_path}); allowed: a schedule listed in train_flow.schedules"
        )
    if b.n_repeats < 2:
        raise SystemExit(
            f"error: metrics.bits_per_dim.n_repeats = {b.n_repeats}: the Hutchinson estimator's "
            "spread needs >= 2 solves per image"
        )
    headlines = gather(RESULTS)  # fails early when a stage's metrics are missing
    name, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.test.images[: b.n_images])
    flow, _ = load_unet(model_path, device)

    def run(divergence: str, n_steps: int, **kw) -> dict:
        r = bits_per_dim(
            flow,
            images,
            data.n_levels,
            n_steps=n_steps,
            method=b.method,
            divergence=divergence,
            generator=torch.Generator().manual_seed(p.seed),  # the same dequantization draws
            batch_size=b.batch_size,
            device=device,
            **kw,
        )
        return {k: v for k, v in r.items() if k != "per_image"}

    hutch = dict(n_probes=b.n_probes, n_repeats=b.n_repeats)
    exact = run("exact", b.n_steps)
    hutchinson = run("hutchinson", b.n_steps, **hutch)
    tight = run("hutchinson", b.tight_n_steps, **hutch)  # same u and probes: solver error only
    headlines["images"]["bits_per_dim"] = {
        "dataset": name,
        "schedule": b.schedule,
        "exact": exact,
        "hutchinson": hutchinson,
        "hutchinson_minus_exact": hutchinson["bits_per_dim"] - exact["bits_per_dim"],
        "solver_error": abs(tight["bits_per_dim"] - hutchinson["bits_per_dim"]),
        "tight_n_steps": b.tight_n_steps,
    }
    return headlines


if __name__ == "__main__":
    run_stage("metrics", main)
