"""Stage train_gan: a DCGAN on the images by the non-saturating losses, with resumable checkpoints;
its discriminator logit d(x) is the energy term of the ddls stage. With spectral_norm_ablation the
same GAN is trained with the stabiliser switched, side by side, so that ddls can measure it."""

from __future__ import annotations

from dataclasses import replace

from lib.images.data import load_image_npz
from lib.images.gan_models import GanJob, fit_job
from lib.infra import layout
from lib.infra.distributed import current_world
from lib.infra.parallel import map_jobs
from lib.infra.stage import run_stage
from lib.nets.gan import GanConfig
from lib.training.curves import log_curves


def main(p, device, out):
    name, _ = load_image_npz(layout.IMAGES)
    config = GanConfig(**{**p.gan.model_dump(), "channels": tuple(p.gan.channels)})
    settings = dict(
        seed=p.seed, n_iters=p.n_iters, batch_size=p.batch_size, lr_g=p.lr_g, lr_d=p.lr_d,
        n_critic=p.n_critic, checkpoint_every=p.checkpoint_every,
    )  # fmt: skip
    jobs = [GanJob("gan", config, **settings)]
    if p.spectral_norm_ablation:
        switched = replace(config, spectral_norm=not config.spectral_norm)
        jobs.append(GanJob("gan_ablation", switched, **settings))
    results = map_jobs(fit_job, jobs, device)
    for r in results if current_world().is_main else []:  # rank 0 alone writes files
        suffix = "" if r["tag"] == "gan" else "_ablation"
        log_curves(out, f"generator{suffix}", r["g_loss"])
        log_curves(out, f"discriminator{suffix}", r["d_loss"])
    main_run = results[0]["summary"]
    return {
        "dataset": name,
        **main_run,
        **({"ablation": results[1]["summary"]} if len(results) > 1 else {}),
    }


if __name__ == "__main__":
    run_stage("train_gan", main, distributed=True)  # NPROC=N: N processes per training
