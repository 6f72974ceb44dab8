"""Stage ddls: the GAN as an energy-based model. Latent Langevin chains on E(z) = |z|^2 / 2 -
d(G(z)) from one prior draw, scored after k steps for several step sizes on the sample stage's
yardstick, paired with the plain generator; a MALA run; the energy and d(G(z)) along the chains;
the GAN with and without DDLS against the flows' best ODE sampler and the score SDEs' best cell."""

from __future__ import annotations

import time

import torch

from lib.flows.likelihood import quantize
from lib.images import ddls_study
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.stage import run_stage, seeded_generator, value_key
from lib.metrics.sample_reference import sample_yardstick
from lib.metrics.yardstick import compare
from lib.nets.gan import load_gan
from lib.params import load_params
from lib.plots import ddls as plots
from lib.plots.image_grids import grids


def main(p, device, out):
    sample_p = load_params("sample")
    name, data = load_image_npz(layout.IMAGES)
    stick, _ = sample_yardstick(sample_p, data, device)
    level = sample_p.yardstick.level
    if p.n_images < stick.chunk:
        raise SystemExit(
            f"error: ddls.n_images = {p.n_images}: a scored set needs at least the yardstick's "
            f"real set, {stick.chunk} images"
        )
    generator, discriminator, _ = load_gan(layout.model("train_gan", "gan"), device)
    for net in (generator, discriminator):
        net.requires_grad_(False)  # gradients flow to z only
    z0 = torch.randn(
        (p.n_images, generator.config.latent_dim), generator=seeded_generator(p.seed, device),
        device=device,
    )  # fmt: skip
    start = time.perf_counter()
    with torch.no_grad():
        generator(z0)
    gan_seconds = (time.perf_counter() - start) / p.n_images

    def chains(step_size: float, mala: bool) -> ddls_study.ChainRun:
        return ddls_study.run_chains(
            generator, discriminator, z0, p.steps, step_size, decay=p.decay,
            decay_every=p.decay_every, mala=mala, n_levels=data.n_levels,
            batch_size=p.batch_size, seed=p.seed, noise_scale=p.noise_scale,
        )  # fmt: skip

    runs = [chains(eps, False) for eps in p.step_sizes]
    if p.mala:
        runs.append(chains(p.main_step_size, True))
    plain = stick.score(runs[0].images[0])
    curves, scored = {}, {}
    for run in runs:
        key = ("mala_" if run.mala else "ula_") + value_key("eps", run.step_size)
        rows = []
        for k in p.steps:
            score = plain if k == 0 else stick.score(run.images[k])
            scored[(key, k)] = score
            row = {"k": k, **score.to_dict(level)}
            if k > 0:
                row["minus_generator"] = compare(score, plain, level)
            rows.append(row)
        curves[key] = {
            "step_size": run.step_size,
            "mala": run.mala,
            "acceptance": run.acceptance,
            "seconds_per_step": run.seconds_per_step,
            "by_k": rows,
            "energy": run.energy.tolist(),
            "logit": run.logit.tolist(),
        }
    # the table's DDLS row is fixed in advance (main step size, ULA, the longest chain): picking
    # the lowest KID over the grid would favour DDLS by the noise of the minimum
    main_key, k_max = "ula_" + value_key("eps", p.main_step_size), max(p.steps)
    ddls_score = scored[(main_key, k_max)]
    lowest = min(((key, k) for key, k in scored if k > 0), key=lambda kk: scored[kk].kid.value)
    table = [
        {"name": "GAN", "nfe": 1, "seconds_per_image": gan_seconds, **plain.to_dict(level)},
        {
            "name": f"GAN + DDLS (eps = {p.main_step_size:g}, k = {k_max})",
            "nfe": k_max + 1,  # a forward and backward pass of G and D per step, then G
            "seconds_per_image": gan_seconds
            + k_max * curves[main_key]["seconds_per_step"] / p.n_images,
            **ddls_score.to_dict(level),
            "minus_generator": compare(ddls_score, plain, level),
        },
    ]
    for c in ddls_study.competitors():
        score = stick.score(c.images)
        table.append(
            {"name": c.name, "nfe": c.nfe, "seconds_per_image": c.seconds_per_image,
             **score.to_dict(level), "minus_ddls": compare(score, ddls_score, level)}
        )  # fmt: skip
    stabiliser = None
    if load_params("train_gan").spectral_norm_ablation:  # the same GAN, spectral norm switched
        switched, _, meta = load_gan(layout.model("train_gan", "gan_ablation"), device)
        with torch.no_grad():
            other = stick.score(quantize(switched(z0), data.n_levels).cpu().numpy())
        with_sn, without_sn = (other, plain) if meta["spectral_norm"] else (plain, other)
        stabiliser = {
            "with_spectral_norm": with_sn.to_dict(level),
            "without_spectral_norm": without_sn.to_dict(level),
            "with_minus_without": compare(with_sn, without_sn, level),
        }
    main_run = next(r for r in runs if r.step_size == p.main_step_size and not r.mala)
    figures = out / "figures"
    plots.kid_vs_steps(curves, stick.real.to_dict(level), figures / "kid_vs_steps.pdf", level)
    plots.chains(curves, figures / "energy.pdf")
    n = p.grid_n_images
    grids(
        {f"k = {k}": main_run.images[k][:n] for k in (0, max(p.steps))}, data.n_levels,
        figures / "grids.png",
    )  # fmt: skip
    return {
        "dataset": name,
        "n_images": p.n_images,
        "real_vs_real": stick.real.to_dict(level),
        "generator": plain.to_dict(level),
        "chains": curves,
        "ddls": {"chain": main_key, "k": k_max, **table[1]},
        "lowest_over_grid": {
            "step_size": curves[lowest[0]]["step_size"],
            "mala": curves[lowest[0]]["mala"],
            "k": lowest[1],
            **scored[lowest].to_dict(level),
        },
        "table": table,
        **({"spectral_norm": stabiliser} if stabiliser is not None else {}),
    }


if __name__ == "__main__":
    run_stage("ddls", main)
