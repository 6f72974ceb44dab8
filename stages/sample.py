"""Stage sample: images from the flow ODE (an exact adaptive solve and fixed-step solvers) and the
SDE (several sigma and step counts) of every schedule, all from the same noise, scored on the
yardstick: KID with its interval against held-out real images, beside the real-vs-real values;
paired comparisons between samplers; sample grids; the class-to-class flow."""

from __future__ import annotations

import time

import numpy as np
import torch

from lib.images import classifier, sampling
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.distributed import current_world
from lib.infra.io import save_npz
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage, seeded_generator
from lib.metrics.ranking import inception_scores, rank
from lib.metrics.yardstick import Yardstick, calibration, split_held_out
from lib.plots import sampling as sampling_plots


def main(p, device, out):
    name, data = load_image_npz(layout.IMAGES)
    held_out = np.concatenate([data.val.images, data.test.images])  # no model trained on these
    sampling.check_inputs(p, len(held_out))
    k, y = data.n_levels, p.yardstick
    clf = classifier.load_classifier(layout.CLASSIFIER, device)

    def features(images: np.ndarray) -> torch.Tensor:
        return classifier.extract_features(clf, classifier.to_model_scale(images, k, device))

    reference, real = split_held_out(held_out, y.n_reference, p.seed)
    stick = Yardstick(features, reference, real, n_groups=y.n_groups, k=y.k, seed=p.seed)
    x0 = torch.randn(
        (p.n_images, *held_out.shape[1:]), generator=seeded_generator(p.seed, device), device=device
    )
    start = time.perf_counter()
    jobs = sampling.grid_jobs(p, x0, k, device)
    runs = [r for rs in map_jobs(sampling.run_grid, jobs, device) for r in rs]
    sampling_seconds = time.perf_counter() - start
    if not current_world().is_main:  # under torchrun the other ranks only share the sampling
        return {}
    save_npz(out / "samples.npz", **{f"{r.schedule}.{r.key}": r.images for r in runs})
    scores = {(r.schedule, r.key): stick.score(r.images) for r in runs}
    result = rank(runs, scores, stick, p.fast_nfe, y.level)
    calibration_images = data.train.images[: p.n_images]
    result["calibration"] = calibration(
        stick, calibration_images, k, y.noise_sigmas, torch.Generator().manual_seed(p.seed), y.level
    )
    figures = out / "figures"
    sampling_plots.kid_vs_nfe(runs, scores, stick.real, figures / "kid_vs_nfe.pdf", y.level)
    sampling_plots.calibration(
        result["calibration"], result["against_n"], figures / "yardstick.pdf"
    )
    sampling_plots.write_curves(out / "plots", runs, scores)
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
        result["inception"] = inception_scores(p, runs, reference, real, k, device)
    if p.transfer is not None:
        moved = sampling.transfer(p, data, clf, device)
        sampling_plots.image_panels(
            {t: v.cpu().numpy() for t, v in moved.panels.items()},
            figures / "transfer.png",
            n_panel_cols=1,
            grid_cols=min(p.transfer.n_images, moved.metrics["n_images"]),
        )
        result["transfer"] = moved.metrics
    return result


if __name__ == "__main__":
    run_stage("sample", main, distributed=True)  # NPROC=N: the sampling split over N processes
