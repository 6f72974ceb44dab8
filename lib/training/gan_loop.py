"""GAN training by the non-saturating losses (Goodfellow et al. 2014): alternating Adam steps on
the discriminator and the generator, with checkpoints from which an interrupted run resumes
bit-for-bit (`checkpoint`), like `lib.training.loop.train` for one network."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from lib.infra.distributed import World, data_parallel, mean_over_ranks, shard, shard_size
from lib.infra.phases import phase
from lib.training.checkpoint import Checkpoint


@dataclass(frozen=True)
class GanResult:
    d_loss: list[float]  # discriminator loss at every iteration (mean over its n_critic steps)
    g_loss: list[float]  # generator loss at every iteration
    d_real_mean: list[float]  # mean logit d(x) on the real batch (mean over the n_critic steps)
    d_fake_mean: list[float]  # mean logit d(G(z)) on the fake batch, the same steps
    seconds: float  # wall time of the iterations, summed over resumes
    resumed_from: int  # the checkpoint's iteration the run resumed from (0: a fresh start)


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """L_D = mean[-log D(x)] + mean[-log(1 - D(G(z)))], D = sigmoid(d), from the logits (n,).

    -log sigmoid(d) = softplus(-d) and -log(1 - sigmoid(d)) = softplus(d): finite for any d.
    At chance (d = 0 everywhere) L_D = 2 log 2."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating L_G = mean[-log D(G(z))] = mean[softplus(-d(G(z)))]: unlike
    log(1 - D(G(z))) its gradient stays large while the discriminator rejects the fakes."""
    return F.softplus(-d_fake).mean()


def fit_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    images: torch.Tensor,
    *,
    n_iters: int,
    batch_size: int,
    lr_g: float,
    lr_d: float,
    betas: tuple[float, float] = (0.5, 0.999),
    n_critic: int = 1,
    latent_dim: int,
    preprocess: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    seed_generator: torch.Generator,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress: bool = True,
    desc: str = "train_gan",
    world: World | None = None,
) -> GanResult:
    """Train G and D on images (N, C, H, W) with one Adam optimizer each.

    Each iteration: n_critic discriminator steps on L_D, each with its own real batch (a random
    subset of `images`, mapped to model scale by preprocess(x, seed_generator); None: images are
    already model scale) and its own z ~ N(0, I) (batch_size, latent_dim); then one generator
    step on L_G with a fresh z. Indices and z are drawn on CPU from seed_generator and moved to
    the models' device, so a seed gives the same run on any device.

    checkpoint: every checkpoint_every iterations (default n_iters // 10) both networks, both
    optimizers, the loss lists and the RNG states (seed_generator, torch's global ones) are
    written atomically; a run with the same settings resumes from the file and ends bit-identical
    to an uninterrupted run (given deterministic kernels). The file is deleted at the end.
    Both networks train in train mode and end in eval mode.

    world (`lib.infra.distributed`, inside its process group): every rank draws the same global
    batches and z and trains on its shard, each network's step through DistributedDataParallel
    (the generator's BatchNorm over all ranks); the losses and logits recorded are the global
    batch's, rank 0 alone writes the checkpoint, and a run resumes on any world size.
    """
    world = world or World()
    _check_settings(n_iters, batch_size, n_critic, len(images), checkpoint_every)
    shard_size(batch_size, world)  # before any work
    g_step, d_step = data_parallel(generator, world), data_parallel(discriminator, world)
    device = next(generator.parameters()).device
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    saver = None
    if checkpoint is not None:
        settings = {  # what makes a checkpoint this run's
            "n_iters": n_iters,
            "batch_size": batch_size,
            "lr_g": lr_g,
            "lr_d": lr_d,
            "betas": list(betas),
            "n_critic": n_critic,
            "latent_dim": latent_dim,
            "n_images": len(images),
            "image_shape": list(images.shape[1:]),
            "generator": [[k, list(p.shape)] for k, p in generator.named_parameters()],
            "discriminator": [[k, list(p.shape)] for k, p in discriminator.named_parameters()],
        }
        every = checkpoint_every or max(1, n_iters // 10)
        saver = Checkpoint(Path(checkpoint), every, settings)
    resumed_from, seconds_before = 0, 0.0
    if saver is not None and (saved := saver.load([seed_generator])) is not None:
        generator.load_state_dict(saved["generator"])
        discriminator.load_state_dict(saved["discriminator"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        history, resumed_from, seconds_before = (
            saved["history"],
            saved["iteration"],
            saved["seconds"],
        )

    def real_batch() -> torch.Tensor:  # this rank's shard of the global batch
        idx = torch.randperm(len(images), generator=seed_generator)[:batch_size]
        x = images[idx.to(images.device)]
        return shard(x if preprocess is None else preprocess(x, seed_generator), world).to(device)

    def latent() -> torch.Tensor:
        z = torch.randn(batch_size, latent_dim, generator=seed_generator)
        return shard(z, world).to(device)

    def mean(x: torch.Tensor) -> float:  # over the global batch
        return mean_over_ranks(x.detach().mean()).item()

    generator.train()
    discriminator.train()
    start = time.perf_counter()
    bar = tqdm(
        range(resumed_from + 1, n_iters + 1),
        initial=resumed_from,
        total=n_iters,
        desc=desc,
        disable=None if progress and world.is_main else True,
    )
    with phase("training"):
        for it in bar:
            d_loss = d_real_mean = d_fake_mean = 0.0
            for _ in range(n_critic):
                x = real_batch()
                with torch.no_grad():
                    fake = generator(latent())
                # One call on real and fake together: one power iteration of the spectral norm
                # per step (D has no BatchNorm, so the two halves do not interact).
                d_real, d_fake = d_step(torch.cat([x, fake])).split(len(x))
                loss = discriminator_loss(d_real, d_fake)
                opt_d.zero_grad(set_to_none=True)
                loss.backward()
                opt_d.step()
                d_loss += mean(loss) / n_critic
                d_real_mean += mean(d_real) / n_critic
                d_fake_mean += mean(d_fake) / n_critic

            # the generator step moves G only: D is called as itself (no gradient to average)
            discriminator.requires_grad_(False)
            g_loss = generator_loss(discriminator(g_step(latent())))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            discriminator.requires_grad_(True)

            for key, value in zip(history, (d_loss, mean(g_loss), d_real_mean, d_fake_mean)):
                history[key].append(value)
            bar.set_postfix(d_loss=f"{d_loss:.3f}", g_loss=f"{history['g_loss'][-1]:.3f}")
            if saver is not None and saver.due(it, n_iters) and world.is_main:
                state = {
                    "iteration": it,
                    "generator": generator.state_dict(),
                    "discriminator": discriminator.state_dict(),
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(),
                    "history": history,
                    "seconds": seconds_before + time.perf_counter() - start,
                }
                saver.save(state, [seed_generator])

    generator.eval()
    discriminator.eval()
    if saver is not None and world.is_main:
        saver.remove()
    return GanResult(
        d_loss=history["d_loss"],
        g_loss=history["g_loss"],
        d_real_mean=history["d_real"],
        d_fake_mean=history["d_fake"],
        seconds=seconds_before + time.perf_counter() - start,
        resumed_from=resumed_from,
    )


def _check_settings(
    n_iters: int, batch_size: int, n_critic: int, n_images: int, checkpoint_every: int | None
) -> None:
    if n_iters < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")
    if not 1 <= batch_size <= n_images:
        raise ValueError(f"batch_size must be in 1..{n_images} (the images), got {batch_size}")
    if n_critic < 1:
        raise ValueError(f"n_critic must be >= 1, got {n_critic}")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1 or None, got {checkpoint_every}")
