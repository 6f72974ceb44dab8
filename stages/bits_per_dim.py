"""Stage bits_per_dim: bits/dim of an image flow via the probability-flow ODE, with the exact and
the Hutchinson divergence on the same test images and dequantization draws."""

from __future__ import annotations

import torch

from lib.flows.likelihood import bits_per_dim
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.stage import run_stage
from lib.nets.unet import load_unet


def main(p, device, out):
    model_path = layout.model("train_flow", f"velocity_{p.schedule}")
    if not model_path.exists():
        raise SystemExit(
            f"error: bits_per_dim.schedule = {p.schedule!r} has no flow model ({model_path}); "
            "allowed: a schedule listed in train_flow.schedules"
        )
    name, data = load_image_npz(layout.IMAGES)
    images = torch.as_tensor(data.test.images[: p.n_images])
    flow, _ = load_unet(model_path, device)

    def run(divergence: str, n_steps: int, **kw) -> dict:
        r = bits_per_dim(
            flow,
            images,
            data.n_levels,
            n_steps=n_steps,
            method=p.method,
            divergence=divergence,
            generator=torch.Generator().manual_seed(p.seed),  # the same dequantization draws
            batch_size=p.batch_size,
            device=device,
            **kw,
        )
        return {k: v for k, v in r.items() if k != "per_image"}

    hutch = dict(n_probes=p.n_probes, n_repeats=p.n_repeats)
    exact = run("exact", p.n_steps)
    hutchinson = run("hutchinson", p.n_steps, **hutch)
    tight = run("hutchinson", p.tight_n_steps, **hutch)  # same u and probes: solver error only
    return {
        "dataset": name,
        "schedule": p.schedule,
        "exact": exact,
        "hutchinson": hutchinson,
        "hutchinson_minus_exact": hutchinson["bits_per_dim"] - exact["bits_per_dim"],
        "solver_error": abs(tight["bits_per_dim"] - hutchinson["bits_per_dim"]),
        "tight_n_steps": p.tight_n_steps,
    }


if __name__ == "__main__":
    run_stage("bits_per_dim", main)
