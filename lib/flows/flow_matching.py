"""Conditional flow matching: regress a velocity field onto the Gaussian path's conditional one.

With x_t = alpha_t z + sigma_t x_0 (z data, x_0 the source: noise or a source data set) and
u_t = d_alpha z + d_sigma x_0, the loss

    L(theta) = E_{t, z, x_0} |v_theta(x_t, t) - u_t|^2

differs from E_{t, x_t} |v_theta(x_t, t) - u_t(x_t)|^2, with u_t(x) = E[u_t | x_t = x] the
marginal velocity whose ODE carries the source to the data, by a constant independent of theta:
both have the same minimiser and gradients. The pairing of x_0 with z (the coupling) may be
independent or a minibatch optimal-transport plan, which straightens the learned paths.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from lib.infra.distributed import World, data_parallel, shard_rows, shard_size
from lib.paths.gaussian import GaussianPath
from lib.training.loop import LrSchedule, TrainResult, train

Reduction = Literal["mean", "none"]
Preprocess = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]
CouplingName = Literal["independent", "minibatch_ot"]


def sample_times(
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    t_min: float = 0.0,
    t_max: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """t ~ U[t_min, t_max]: (n,), drawn on the generator's device and moved to `device`.

    A schedule whose derivatives are singular at an end needs the interval clipped a little
    inside [0, 1]: for sqrt (alpha = sqrt t, sigma = sqrt(1 - t)) the target's squared size
    E|u_t|^2 = E|z|^2 / 4t + d / 4(1 - t) is not integrable over t, so the expected loss is
    infinite (lib.paths clamps the derivatives 1e-4 from the ends: finite, not small) and the
    few draws near the ends dominate the gradient; e.g. use [1e-3, 1 - 1e-3].
    """
    if not 0.0 <= t_min < t_max <= 1.0:
        raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
    noise_device = generator.device if generator is not None else device
    u = torch.rand(n, generator=generator, device=noise_device, dtype=dtype).to(device)
    return t_min + (t_max - t_min) * u


def squared_norm(x: torch.Tensor) -> torch.Tensor:
    """|x_i|^2 summed over the non-batch dims: (n, ...) -> (n,)."""
    return x.reshape(len(x), -1).pow(2).sum(-1)


def reduce(per_sample: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Batch mean ("mean") or the per-sample values (n,) ("none")."""
    if reduction not in ("mean", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; allowed: ['mean', 'none']")
    return per_sample.mean() if reduction == "mean" else per_sample


def cfm_loss(
    model: nn.Module,
    path: GaussianPath,
    z: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """|v(x_t, t) - u_t|^2, the squared norm summed over the non-batch dims (so its scale grows with
    the dimension, as in the reference text), averaged over the batch; z, noise (n, ...), t (n,).

    model(x, t) takes x (n, ...) and t (n,).
    """
    s = path.sample(z, t, noise)
    return reduce(squared_norm(model(s.x_t, s.t) - s.velocity), reduction)


def independent(x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The source sample as drawn: x0[i] is paired with z[i]."""
    return x0


@torch.no_grad()
def minibatch_ot(x0: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """x0 reordered so that row i pairs with z[i] and sum_i |x0_pi(i) - z_i|^2 is minimal: the
    exact optimal-transport plan between the two empirical minibatches (Hungarian algorithm,
    O(n^3) on the CPU); x0, z (n, ...)."""
    cost = torch.cdist(z.reshape(len(z), -1), x0.reshape(len(x0), -1)).pow(2)  # (n_z, n_x0)
    _, cols = linear_sum_assignment(cost.double().cpu().numpy())
    return x0[torch.as_tensor(cols, device=x0.device)]


COUPLINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "independent": independent,
    "minibatch_ot": minibatch_ot,
}


def get_coupling(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Look up a coupling by name; raises with the allowed names."""
    if name not in COUPLINGS:
        raise ValueError(f"unknown coupling {name!r}; allowed: {sorted(COUPLINGS)}")
    return COUPLINGS[name]


class Batch(NamedTuple):
    """One training batch, in the argument order of the losses: loss(model, path, *batch)."""

    z: torch.Tensor  # (n, ...) data, t = 1
    noise: torch.Tensor  # (n, ...) source paired with z, t = 0
    t: torch.Tensor  # (n,)


def draw_batch(
    data: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
    *,
    source: torch.Tensor | None = None,
    coupling: CouplingName = "independent",
    t_min: float = 0.0,
    t_max: float = 1.0,
    preprocess: Preprocess | None = None,
) -> Batch:
    """z = batch_size rows of `data` without replacement (all rows if fewer); the source
    x_0 ~ N(0, I), or rows of `source` (data-to-data flows), paired with z by `coupling`;
    t ~ U[t_min, t_max]. preprocess(rows, generator), if given, maps the drawn rows of data (and
    of source) to the model's scale first (e.g. fresh uniform dequantization of integer images at
    every batch).

    Everything is drawn on the generator's device and moved to data's, so a seed gives the same
    batches on any device. A stage's loss is then e.g.
    `lambda it: cfm_loss(model, path, *draw_batch(train, 256, g, coupling="minibatch_ot"))`.
    """
    couple = get_coupling(coupling)
    gen_device = generator.device if generator is not None else data.device
    n = global_batch_size(data, batch_size, source)
    z = data[torch.randperm(len(data), generator=generator, device=gen_device)[:n].to(data.device)]
    if preprocess is not None:
        z = preprocess(z, generator)
    if source is None:
        x0 = torch.randn(z.shape, generator=generator, device=gen_device, dtype=z.dtype)
        x0 = x0.to(data.device)
    else:
        idx = torch.randperm(len(source), generator=generator, device=gen_device)[:n]
        x0 = source[idx.to(source.device)].to(data.device)
        if preprocess is not None:
            x0 = preprocess(x0, generator)
    t = sample_times(n, generator, data.device, t_min, t_max, z.dtype)
    return Batch(z, couple(x0, z), t)


def global_batch_size(data: torch.Tensor, batch_size: int, source: torch.Tensor | None) -> int:
    """Rows of a `draw_batch` batch: batch_size, or all of data (or of source) if fewer."""
    return min(batch_size, len(data), len(source) if source is not None else len(data))


def fit(
    model: nn.Module,
    path: GaussianPath,
    data: torch.Tensor,
    *,
    n_iters: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    source: torch.Tensor | None = None,
    coupling: CouplingName = "independent",
    lr_schedule: LrSchedule = "cosine",
    ema_decay: float | None = None,
    t_min: float = 0.0,
    t_max: float = 1.0,
    preprocess: Preprocess | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    progress: bool = True,
    world: World | None = None,
) -> TrainResult:
    """Train a velocity model(x, t) by conditional flow matching with `lib.training.train`:
    batches of `data` (through `preprocess`) paired with N(0, I) noise or rows of `source` by
    `coupling`; `checkpoint` makes an interrupted run resume where it stopped.

    world (`lib.infra.distributed`, inside its process group): every rank draws the same
    global batch of batch_size rows (the coupling sees all of it) and trains on its shard through
    DistributedDataParallel, so one seed gives the same training whatever the world size."""
    world = world or World()
    shard_size(global_batch_size(data, batch_size, source), world)  # before any work
    forward = data_parallel(model, world)

    def loss(it: int) -> torch.Tensor:
        batch = draw_batch(
            data,
            batch_size,
            generator,
            source=source,
            coupling=coupling,
            t_min=t_min,
            t_max=t_max,
            preprocess=preprocess,
        )
        return cfm_loss(forward, path, *shard_rows(batch, world))

    return train(
        model,
        loss,
        n_iters=n_iters,
        lr=lr,
        lr_schedule=lr_schedule,
        ema_decay=ema_decay,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        generators=[generator],
        progress=progress,
        desc="flow matching",
    )
