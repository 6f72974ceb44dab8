"""Stage sample: images from the flow ODE (an exact adaptive solve and fixed-step solvers) and the
SDE (several sigma and step counts) of every schedule, all from the same noise, scored on the
yardstick: KID with its interval against held-out real images, beside the real-vs-real values;
paired comparisons between samplers; sample grids; the class-to-class flow."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from lib.flows.likelihood import dequantize, quantize
from lib.images import classifier
from lib.images.data import load_image_npz
from lib.images.sampling import GridJob, Run, run_grid
from lib.infra import layout
from lib.infra.io import save_npz, write_csv
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage, seeded_generator
from lib.metrics.ranking import rank
from lib.metrics.yardstick import Yardstick, calibration
from lib.nets.unet import load_unet
from lib.plots import sampling as sampling_plots
from lib.sde import samplers

CLASSIFIER = layout.CLASSIFIER


def model_file(stage: str, tag: str) -> Path:
    return layout.model(stage, tag)


def check_inputs(p, n_held_out: int) -> None:
    """Every model and file the params name exists and the real images suffice, before any
    work."""
    needed = [CLASSIFIER]
    for s in p.schedules:
        needed += [
            model_file("train_flow", f"velocity_{s}"),
            model_file("train_score", f"noise_{s}"),
        ]
    if p.transfer is not None:
        needed.append(model_file("train_flow", "transfer"))
    missing = [str(f) for f in needed if not f.exists()]
    if missing:
        raise SystemExit(
            f"error: sample needs {missing}: add each schedule of sample.schedules = "
            f"{p.schedules} to train_flow.schedules and train_score.schedules (and keep "
            "train_flow.transfer when sample.transfer is set)"
        )
    y = p.yardstick
    n_real = n_held_out - y.n_reference
    if n_real < max(y.n_groups, y.k + 1) or n_real > p.n_images:
        raise SystemExit(
            f"error: sample.yardstick.n_reference = {y.n_reference}: of the {n_held_out} held-out "
            f"real images (validation + test) the rest, {n_real}, is the real comparison set, "
            f"which needs at least max(n_groups, k + 1) = {max(y.n_groups, y.k + 1)} and at most "
            f"sample.n_images = {p.n_images} images"
        )
    if p.inception is not None and not Path(p.inception.weights).is_file():
        raise SystemExit(
            f"error: sample.inception.weights = {p.inception.weights!r}: no such file. Nothing is "
            "downloaded: put torch-fidelity's weights-inception-2015-12-05-6726825d.pth there, or "
            "set sample.inception to null"
        )


def grid_jobs(p, x0, n_levels: int, device) -> list[GridJob]:
    sweep = p.sde.sweep
    return [
        GridJob(
            schedule=s,
            velocity_file=model_file("train_flow", f"velocity_{s}"),
            noise_file=model_file("train_score", f"noise_{s}"),
            x0=x0,
            n_levels=n_levels,
            batch_size=p.batch_size,
            seed=p.seed,
            device=str(device),
            exact=p.exact.model_dump(),
            ode=p.ode,
            sde_sigmas=p.sde.sigmas,
            sde_n_steps=p.sde.n_steps,
            sde_diffusion=p.sde.diffusion,
            sweep_sigma=sweep.sigma if sweep else None,
            sweep_n_steps=sweep.n_steps if sweep else [],
        )
        for s in p.schedules
    ]


def transfer(p, data, clf, device, out) -> dict:
    """Test images of the source class through the class-to-class flow, classified after."""
    model, meta = load_unet(model_file("train_flow", "transfer"), device)
    a, b, k = meta["source_class"], meta["target_class"], data.n_levels
    src = torch.as_tensor(data.test.images[data.test.labels == a], device=device)
    z0 = dequantize(src, k, seeded_generator(p.seed, device))
    z1 = samplers.sample(p.transfer.method, model, z0, p.transfer.n_steps)
    before, moved = (classifier.to_model_scale(quantize(z, k), k, device) for z in (z0, z1))
    n = min(p.transfer.n_images, len(src))
    panels = {f"class {a} (test images)": before[:n], f"after the flow to class {b}": moved[:n]}
    sampling_plots.image_panels(
        {t: v.cpu().numpy() for t, v in panels.items()},
        out / "figures" / "transfer.png",
        n_panel_cols=1,
        grid_cols=n,
    )
    with torch.no_grad():
        pred, pred_before = clf(moved).argmax(-1), clf(before).argmax(-1)
    return {
        "source_class": a,
        "target_class": b,
        "n_images": len(src),
        "classified_as_target": (pred == b).double().mean().item(),
        "classified_as_source_before": (pred_before == a).double().mean().item(),
        "sampler": p.transfer.method,
        "nfe": samplers.nfe(p.transfer.method, p.transfer.n_steps),
    }


def main(p, device, out):
    name, data = load_image_npz(layout.IMAGES)
    held_out = np.concatenate([data.val.images, data.test.images])  # no model trained on these
    check_inputs(p, len(held_out))
    k, y = data.n_levels, p.yardstick
    clf = classifier.load_classifier(CLASSIFIER, device)

    def features(images: np.ndarray) -> torch.Tensor:
        return classifier.extract_features(clf, classifier.to_model_scale(images, k, device))

    perm = np.random.default_rng(p.seed).permutation(len(held_out))
    reference, real = held_out[perm[: y.n_reference]], held_out[perm[y.n_reference :]]
    stick = Yardstick(features, reference, real, n_groups=y.n_groups, k=y.k, seed=p.seed)
    x0 = torch.randn(
        (p.n_images, *held_out.shape[1:]), generator=seeded_generator(p.seed, device), device=device
    )
    start = time.perf_counter()
    runs: list[Run] = [
        r for rs in map_jobs(run_grid, grid_jobs(p, x0, k, device), device) for r in rs
    ]
    sampling_seconds = time.perf_counter() - start
    save_npz(out / "samples.npz", **{f"{r.schedule}.{r.key}": r.images for r in runs})
    scores = {(r.schedule, r.key): stick.score(r.images) for r in runs}
    result = rank(runs, scores, stick, p.fast_nfe, y.level)
    calibration_images = data.train.images[: p.n_images]
    result["calibration"] = calibration(
        stick, calibration_images, k, y.noise_sigmas, torch.Generator().manual_seed(p.seed), y.level
    )
    figures = out / "figures"
    sampling_plots.kid_vs_nfe(runs, scores, stick.real, figures / "kid_vs_nfe.png", y.level)
    sampling_plots.calibration(
        result["calibration"], result["against_n"], figures / "yardstick.png"
    )
    for (schedule, sampler), rows in sampling_plots.curves(runs, scores).items():
        write_csv(out / "plots" / "kid_vs_nfe" / f"{schedule}_{sampler}.csv", rows)
    for s in p.schedules:
        ode = [r for r in runs if r.schedule == s and r.rmse_to_exact is not None]
        for m in p.ode:
            rows = [r for r in ode if r.sampler == m]
            write_csv(
                out / "plots" / "rmse_vs_nfe" / f"{s}_{m}.csv",
                {"nfe": [r.nfe for r in rows], "rmse_to_exact": [r.rmse_to_exact for r in rows]},
            )
    grid = sampling_plots.grids(runs, k, p.grid.n_images, p.grid.nfe, p.sde.n_steps)
    sampling_plots.image_panels(grid["ode"], figures / "grids_ode.png", n_panel_cols=1 + len(p.ode))
    sampling_plots.image_panels(
        grid["sde"], figures / "grids_sde.png", n_panel_cols=len(p.sde.sigmas)
    )
    result |= {
        "dataset": name,
        "n_images": p.n_images,
        "n_reference": stick.n_reference,
        "n_real": len(real),
        "real_vs_real": stick.real.to_dict(y.level),
        "sampling_seconds": sampling_seconds,
    }
    if p.inception is not None:
        result["inception"] = inception_scores(p, runs, reference, real, k, y, device)
    if p.transfer is not None:
        result["transfer"] = transfer(p, data, clf, device, out)
    return result


def inception_scores(p, runs, reference, real, n_levels, y, device) -> dict:
    """KID, FID, precision and recall of every run on Inception features (published scale)."""
    from lib.images.inception import inception_features, load_inception

    net = load_inception(p.inception.weights, device)

    def features(images: np.ndarray) -> torch.Tensor:
        return inception_features(net, images, n_levels, p.inception.batch_size)

    stick = Yardstick(features, reference, real, n_groups=y.n_groups, k=y.k, seed=p.seed)
    scores: dict[str, dict] = {}
    for r in runs:
        scores.setdefault(r.schedule, {})[r.key] = stick.score(r.images).to_dict(y.level)
    return {"real_vs_real": stick.real.to_dict(y.level), "schedules": scores}


if __name__ == "__main__":
    run_stage("sample", main)
