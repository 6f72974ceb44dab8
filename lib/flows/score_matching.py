"""Denoising score matching on the Gaussian path, with the network predicting the noise.

On x_t = alpha_t z + sigma_t eps the conditional score is grad log p_t(x_t | z) =
-(x_t - alpha z) / sigma^2 = -eps / sigma. A network eps_hat(x, t) defines the score
s(x, t) = -eps_hat(x, t) / sigma_t, and

    E |eps_hat(x_t, t) - eps|^2 = E sigma_t^2 |s(x_t, t) - grad log p_t(x_t | z)|^2,

the sigma^2-weighted denoising score matching loss: at every t it has the same minimiser, the
marginal score, but a bounded target. The unweighted loss regresses onto -eps / sigma, of size
sqrt(d) / sigma -> infinity as t -> 1 (sigma -> 0): even at the optimum it is ~ d / sigma^2 there,
whose integral over t diverges (int dt / (1 - t)^2 for the linear schedule), so a few draws
near t = 1 dominate its gradients. It is offered for comparison, with t clamped to t_max < 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from lib.flows.flow_matching import (
    Preprocess,
    Reduction,
    draw_batch,
    global_batch_size,
    reduce,
    squared_norm,
)
from lib.infra.distributed import World, data_parallel, shard_rows, shard_size
from lib.paths.gaussian import GaussianPath
from lib.sde.solvers import Field
from lib.training.loop import LrSchedule, TrainResult, train


def noise_loss(
    model: nn.Module,
    path: GaussianPath,
    z: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """|eps_hat(x_t, t) - eps|^2 summed over the non-batch dims, averaged over the batch (or per
    sample (n,) with reduction="none"); z, noise (n, ...), t (n,). Finite for every t in [0, 1].

    noise must be N(0, I) draws (`draw_batch` without a source): the path is then Gaussian."""
    s = path.sample(z, t, noise)
    return reduce(squared_norm(model(s.x_t, s.t) - noise), reduction)


def score_loss(
    model: nn.Module,
    path: GaussianPath,
    z: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    reduction: Reduction = "mean",
    t_max: float = 0.999,
) -> torch.Tensor:
    """Unweighted |s(x_t, t) - grad log p_t(x_t | z)|^2 with s = -eps_hat / sigma, which equals
    noise_loss / sigma^2 per sample.

    t is clamped to t_max (sigma_1 = 0 makes the target infinite); draw t from [0, t_max]
    (`draw_batch(..., t_max=...)`) so that the clamp is a safeguard, not a point mass at t_max.
    """
    s = path.sample(z, t.clamp(max=t_max), noise)
    score = path.score_from_noise(model(s.x_t, s.t), s.t)
    target = path.conditional_score(s.x_t, z, s.t)
    return reduce(squared_norm(score - target), reduction)


LOSSES: dict[str, Callable[..., torch.Tensor]] = {"noise": noise_loss, "score": score_loss}


def get_loss(name: str) -> Callable[..., torch.Tensor]:
    """Look up a score matching loss by name; raises with the allowed names."""
    if name not in LOSSES:
        raise ValueError(f"unknown score matching loss {name!r}; allowed: {sorted(LOSSES)}")
    return LOSSES[name]


def score_fn(model: nn.Module, path: GaussianPath) -> Field:
    """s(x, t) = -eps_hat(x, t) / sigma_t for samplers; t 0-dim (as the solvers pass it) or (n,).

    Infinite at t = 1 (sigma = 0): samplers must stop short of it.
    """

    def score(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(len(x)) if t.ndim == 0 else t
        return path.score_from_noise(model(x, t), t)

    return score


def fit(
    model: nn.Module,
    path: GaussianPath,
    data: torch.Tensor,
    *,
    n_iters: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    loss: str = "noise",
    lr_schedule: LrSchedule = "cosine",
    ema_decay: float | None = None,
    t_max: float = 0.999,
    preprocess: Preprocess | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress: bool = True,
    world: World | None = None,
) -> TrainResult:
    """Train a noise predictor model(x, t) by `loss` ("noise", or the unweighted "score" with t
    drawn on [0, t_max]) with `lib.training.train`; `score_fn(model, path)` is then its score.
    preprocess, checkpoint and world (data parallelism) as in `lib.flow_matching.fit`."""
    loss_fn = get_loss(loss)
    t_top = 1.0 if loss == "noise" else t_max
    world = world or World()
    shard_size(global_batch_size(data, batch_size, None), world)  # before any work
    forward = data_parallel(model, world)

    def objective(it: int) -> torch.Tensor:
        batch = draw_batch(data, batch_size, generator, t_max=t_top, preprocess=preprocess)
        return loss_fn(forward, path, *shard_rows(batch, world))

    return train(
        model,
        objective,
        n_iters=n_iters,
        lr=lr,
        lr_schedule=lr_schedule,
        ema_decay=ema_decay,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        generators=[generator],
        progress=progress,
        desc="score matching",
    )
