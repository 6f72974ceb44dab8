"""Stage sample: images from the flow ODE (several solvers) and from the SDE (several sigma) of
every schedule, scored by FID against real images; sample grids; the class-to-class flow."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from lib import fid, plots, samplers, score_matching
from lib.image_data import load_image_npz
from lib.io import write_csv
from lib.likelihood import dequantize, quantize
from lib.parallel import map_jobs
from lib.paths import GaussianPath, make_schedule
from lib.stage import run_stage, seeded_generator, value_key
from lib.unet import load_unet

CLASSIFIER = Path("models") / "classifier" / "classifier.pt"


def model_file(stage: str, tag: str) -> Path:
    return Path("models") / stage / f"{tag}.pt"


def check_inputs(p, n_real: int) -> None:
    """Every model the params name exists and the real images suffice, before any work."""
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
    if 2 * p.n_images > n_real:
        raise SystemExit(
            f"error: sample.n_images = {p.n_images}: the reference and floor sets need "
            f"2 x {p.n_images} real images, there are {n_real}; allowed: <= {n_real // 2}"
        )


class Scorer:
    """Quantizes model-scale samples to the data's levels and scores them against the real
    reference set; keeps the first grid images of the runs that the figures show."""

    def __init__(self, reference: fid.FidReference, n_levels: int, n_grid: int):
        self.reference, self.k, self.n_grid = reference, n_levels, n_grid

    def images(self, z: torch.Tensor) -> torch.Tensor:
        return fid.to_model_scale(quantize(z, self.k), self.k, z.device)

    def __call__(self, z: torch.Tensor) -> float:
        return self.reference(self.images(z))

    def grid(self, z: torch.Tensor) -> np.ndarray:
        return self.images(z[: self.n_grid]).cpu().numpy()


def timed(run):
    start = time.perf_counter()
    z = run()
    return z, time.perf_counter() - start


def schedule_job(job) -> tuple[dict, dict, dict]:
    """sample_schedule in a worker process: job = (params, schedule, starting noise, scorer,
    device name); every schedule gets the same noise and reference set, so their FIDs are
    paired comparisons."""
    p, schedule, x0, scorer, device_name = job
    return sample_schedule(p, schedule, x0, scorer, torch.device(device_name))


def sample_schedule(p, schedule, x0, scorer, device) -> tuple[dict, dict, dict]:
    """FIDs of every sampler for one schedule: (metrics, curves, grids)."""
    flow, _ = load_unet(model_file("train_flow", f"velocity_{schedule}"), device)
    noise, _ = load_unet(model_file("train_score", f"noise_{schedule}"), device)
    path = GaussianPath(make_schedule(schedule))
    score = score_matching.score_fn(noise, path)
    grids, curves = {}, {}

    z, seconds = timed(lambda: samplers.sample("euler", flow, x0, p.reference_steps))
    reference = {"sampler": "euler", "nfe": p.reference_steps, "fid": scorer(z)}
    reference["images_per_second"] = len(x0) * p.reference_steps / seconds  # per evaluation
    grids[f"Euler {p.reference_steps}"] = scorer.grid(z)

    z_ref = z
    ode, distance = {}, {}
    for method, steps in p.ode.items():
        nfes = [samplers.nfe(method, n) for n in steps]
        shown = steps[int(np.argmin([abs(e - p.grid.nfe) for e in nfes]))]
        fids, rmses = [], []
        for n in steps:
            z = samplers.sample(method, flow, x0, n)
            fids.append(scorer(z))
            rmses.append((z - z_ref).pow(2).mean().sqrt().item())  # per pixel, model scale
            if n == shown:
                grids[f"{method}, NFE {samplers.nfe(method, n)}"] = scorer.grid(z)
        ode[method] = {value_key("nfe", e): f for e, f in zip(nfes, fids)}
        distance[method] = {value_key("nfe", e): r for e, r in zip(nfes, rmses)}
        curves[method] = (nfes, fids, rmses)

    sde, sde_grids = {}, {}
    gen = seeded_generator(p.seed + 1, device)
    for sigma in p.sde.sigmas:
        sigma_t = samplers.diffusion(p.sde.diffusion, sigma, path.schedule.beta)
        z = samplers.sample(
            "em", flow, x0, p.sde.n_steps, score=score, sigma=sigma_t, generator=gen
        )
        sde[value_key("sigma", sigma)] = scorer(z)
        sde_grids[f"sigma = {sigma:g}"] = scorer.grid(z)

    def by_fid(run: dict) -> float:
        return run["fid"]

    runs = [
        {"sampler": m, "nfe": e, "fid": f}
        for m, (nfes, fids, _) in curves.items()
        for e, f in zip(nfes, fids)
    ]
    best_ode = min(runs, key=by_fid)
    sde_nfe = samplers.nfe("em", p.sde.n_steps)
    runs += [
        {"sampler": "sde", "nfe": sde_nfe, "fid": f, "sigma": sigma}
        for sigma, f in zip(p.sde.sigmas, sde.values())
    ]
    sweep = None
    if p.sde.sweep is not None:
        sweep, curves["sde"] = sde_sweep(p, flow, score, path, x0, scorer, device, sde)
        runs += [
            {"sampler": "sde", "nfe": e, "fid": f, "sigma": sweep["sigma"]}
            for e, f in zip(*curves["sde"][:2])
        ]
    fast = [r for r in runs if r["nfe"] <= p.fast_nfe]
    metrics = {
        "reference": reference,
        "ode": ode,
        "rmse_to_reference": distance,  # same noise, per pixel: the solver's own error
        "sde": {
            "nfe": sde_nfe,
            "diffusion": p.sde.diffusion,
            "fid": sde,
            "best": dict(
                zip(("sigma", "fid"), min(zip(p.sde.sigmas, sde.values()), key=lambda r: r[1]))
            ),
        },
        "best_ode": best_ode,
        "best": min(runs, key=by_fid),  # over ODE and SDE runs
    }
    if sweep is not None:
        metrics["sde"]["sweep"] = sweep
    if fast:
        f = min(fast, key=by_fid)
        metrics["best_fast"] = {
            "sampler": f["sampler"],
            "nfe": f["nfe"],
            "fid": f["fid"],
            "over_reference": f["fid"] / reference["fid"],
        }
    return metrics, curves, {"ode": grids, "sde": sde_grids}


def sde_sweep(p, flow, score, path, x0, scorer, device, sde_fids) -> tuple[dict, tuple]:
    """FID vs NFE of the SDE at one sigma: sweep.n_steps and the main run's n_steps (whose FID
    is already in sde_fids). Its own generator keeps the main runs' noise unchanged. Returns
    (metrics, curve); the curve's RMSE is NaN: a stochastic sampler has no same-noise solution
    to compare with the ODE reference."""
    sigma = p.sde.sweep.sigma
    sigma_t = samplers.diffusion(p.sde.diffusion, sigma, path.schedule.beta)
    gen = seeded_generator(p.seed + 2, device)
    fids = {p.sde.n_steps: sde_fids[value_key("sigma", sigma)]}
    for n in p.sde.sweep.n_steps:
        z = samplers.sample("em", flow, x0, n, score=score, sigma=sigma_t, generator=gen)
        fids[n] = scorer(z)
    steps = sorted(fids)
    nfes = [samplers.nfe("em", n) for n in steps]
    curve = (nfes, [fids[n] for n in steps], [float("nan")] * len(steps))
    metrics = {"sigma": sigma, "fid": {value_key("nfe", e): fids[n] for e, n in zip(nfes, steps)}}
    return metrics, curve


def transfer(p, data, clf, scorer, device, out) -> dict:
    """Test images of the source class through the class-to-class flow, classified after."""
    model, meta = load_unet(model_file("train_flow", "transfer"), device)
    a, b = meta["source_class"], meta["target_class"]
    test = torch.as_tensor(data.test.images, device=device)
    labels = torch.as_tensor(data.test.labels, device=device)
    src = test[labels == a]
    z0 = dequantize(src, data.n_levels, seeded_generator(p.seed, device))
    z1 = samplers.sample(p.transfer.method, model, z0, p.transfer.n_steps)
    moved = scorer.images(z1)
    pred = clf(moved).argmax(-1)
    before = clf(scorer.images(z0)).argmax(-1)
    n = min(p.transfer.n_images, len(src))
    plots.image_panels(
        {
            f"class {a} (test images)": scorer.images(z0[:n]).cpu().numpy(),
            f"after the flow to class {b}": moved[:n].cpu().numpy(),
        },
        out / "figures" / "transfer.png",
        n_panel_cols=1,
        grid_cols=n,
    )
    return {
        "source_class": a,
        "target_class": b,
        "n_images": len(src),
        "classified_as_target": (pred == b).double().mean().item(),
        "classified_as_source_before": (before == a).double().mean().item(),
        "sampler": p.transfer.method,
        "nfe": samplers.nfe(p.transfer.method, p.transfer.n_steps),
    }


def main(p, device, out):
    name, data = load_image_npz(Path("data") / "images")
    real = np.concatenate([data.train.images, data.val.images, data.test.images])
    check_inputs(p, len(real))
    k = data.n_levels
    clf = fid.load_classifier(CLASSIFIER, device)
    reference = fid.FidReference(
        clf,
        fid.to_model_scale(real, k, device),
        p.n_images,
        torch.Generator().manual_seed(p.seed),
        n_floor=p.n_floor,
    )
    scorer = Scorer(reference, k, p.grid.n_images)
    x0 = torch.randn(
        (p.n_images, *real.shape[1:]), generator=seeded_generator(p.seed, device), device=device
    )
    start = time.perf_counter()
    metrics, curves, ode_grids, sde_grids = {}, {}, {}, {}
    # one worker per schedule on a multi-core CPU (1 thread each), given the noise and the
    # reference built once here (see lib/parallel.py)
    jobs = [(p, s, x0, scorer, str(device)) for s in p.schedules]
    for s, (metrics[s], c, g) in zip(p.schedules, map_jobs(schedule_job, jobs, device)):
        curves |= {(s, m): v for m, v in c.items()}
        ode_grids |= {f"{s}: {t}": v for t, v in g["ode"].items()}
        sde_grids |= {f"{s}: {t}": v for t, v in g["sde"].items()}
        for m, (nfes, fids, rmses) in c.items():
            write_csv(out / "plots" / "fid_vs_nfe" / f"{s}_{m}.csv", {"nfe": nfes, "fid": fids})
            if m != "sde":  # the ODE samplers' own error
                write_csv(
                    out / "plots" / "rmse_vs_nfe" / f"{s}_{m}.csv",
                    {"nfe": nfes, "rmse_to_reference": rmses},
                )
    figures = out / "figures"
    plots.fid_vs_nfe(
        curves,
        {s: metrics[s]["reference"]["fid"] for s in p.schedules},
        reference.floor,
        figures / "fid_vs_nfe.png",
    )
    n_cols = 1 + len(p.ode)
    plots.image_panels(ode_grids, figures / "grids_ode.png", n_panel_cols=n_cols)
    plots.image_panels(sde_grids, figures / "grids_sde.png", n_panel_cols=len(p.sde.sigmas))
    best = min(({"schedule": s} | m["best"] for s, m in metrics.items()), key=lambda r: r["fid"])
    result = {
        "dataset": name,
        "fid": {
            "n_images": p.n_images,
            "floor": reference.floor,
            "floor_sd": reference.floor_sd,
            "n_floor": len(reference.floors),
        },
        "schedules": metrics,
        "best": best | {"over_floor": best["fid"] / reference.floor},
        "sampling_seconds": time.perf_counter() - start,
    }
    if p.transfer is not None:
        result["transfer"] = transfer(p, data, clf, scorer, device, out)
    return result


if __name__ == "__main__":
    run_stage("sample", main)
