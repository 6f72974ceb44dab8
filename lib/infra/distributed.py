"""Data-parallel training over processes: the world from the launcher, batch shards, BatchNorm
statistics over the whole global batch.

`torchrun --nproc_per_node N` starts N copies of a command and tells each its place through the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): the world size is never a
param, like the device. Every rank draws the same global batch from the same seeded generator
and trains on its own contiguous slice (`shard`); DistributedDataParallel averages the gradients
(all-reduce: gloo on CPUs, NCCL on GPUs), so with equal slices each rank's Adam step is the one a
single process takes on the whole batch. BatchNorm would otherwise normalise each slice by its
own statistics: `sync_batchnorm` swaps in `DistributedBatchNorm2d`, whose batch mean and variance
are all-reduced sums over every rank (PyTorch's SyncBatchNorm runs only on GPUs). Rank 0 alone
writes files (`World.is_main`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class World:
    """This process's rank among `size` processes (rank 0 writes files)."""

    rank: int = 0
    size: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or not 0 <= self.rank < self.size:
            raise ValueError(f"rank {self.rank} of world size {self.size}: need 0 <= rank < size")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env(env: dict[str, str] | None = None) -> World:
    """RANK and WORLD_SIZE as torchrun sets them; neither set: one process (rank 0 of 1)."""
    env = os.environ if env is None else env
    raw = {key: env.get(key) for key in ("RANK", "WORLD_SIZE")}
    if all(v is None for v in raw.values()):
        return World()
    for key, value in raw.items():
        if value is None or not value.isdigit():
            raise ValueError(
                f"{key} = {value!r}: expected a non-negative integer (RANK and WORLD_SIZE are set "
                "together by torchrun)"
            )
    return World(int(raw["RANK"]), int(raw["WORLD_SIZE"]))


def current_world() -> World:
    """This process's place in the initialised default process group; one process without one."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def is_main_process() -> bool:
    """Rank 0, or a process outside any process group: the one that writes files."""
    return current_world().is_main


def n_processes_requested(env: dict[str, str] | None = None) -> int:
    """NPROC, the processes a stage that trains by data parallelism asks torchrun for (default
    1): the one switch of the README's "Several processes per training"."""
    env = os.environ if env is None else env
    raw = env.get("NPROC", "1").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"NPROC = {raw!r}: expected a positive integer (processes per training)")
    return int(raw)


def backend(device: torch.device | str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


@contextlib.contextmanager
def process_group(
    world: World, device: torch.device | str, init_method: str = "env://"
) -> Iterator[World]:
    """The default process group for `world` while inside (nothing to do for one process);
    init_method env:// reads MASTER_ADDR / MASTER_PORT from torchrun."""
    if world.size == 1:
        yield world
        return
    dist.init_process_group(
        backend(device), init_method=init_method, rank=world.rank, world_size=world.size
    )
    try:
        yield world
    finally:
        dist.destroy_process_group()


def shard_size(batch_size: int, world: World) -> int:
    """Rows per rank of a global batch; raises unless every rank gets an equal slice."""
    if batch_size % world.size:
        raise ValueError(
            f"batch_size = {batch_size} is not divisible by the world size {world.size}: every "
            "rank must train on an equal slice of the global batch"
        )
    return batch_size // world.size


def shard(batch: torch.Tensor, world: World) -> torch.Tensor:
    """Rows [r B / N, (r + 1) B / N) of a global batch of B rows, for rank r of N."""
    size = shard_size(len(batch), world)
    return batch[world.rank * size : (world.rank + 1) * size]


def shard_rows(tensors: tuple[torch.Tensor, ...], world: World) -> tuple[torch.Tensor, ...]:
    """`shard` of each tensor of a batch (e.g. data, noise and times), the same rows of each."""
    return tuple(shard(x, world) for x in tensors)


def mean_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """The mean of a (detached) tensor over the ranks; x itself outside a process group. With
    equal shards the mean of the ranks' batch-mean losses is the global batch's mean loss."""
    world = current_world()
    if world.size == 1:
        return x
    out = x.detach().clone()
    dist.all_reduce(out)
    return out / world.size


def gather_rows(x: torch.Tensor, world: World) -> torch.Tensor | None:
    """Every rank's rows (equal counts) concatenated in rank order, on rank 0; None elsewhere.
    With each rank holding its `shard` of a global batch this is the global batch again."""
    if world.size == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world.size)] if world.is_main else None
    dist.gather(x.contiguous(), parts, dst=0)
    return torch.cat(parts) if world.is_main else None


def map_batches(fn: Callable[[int, T], R], batches: Sequence[T], world: World) -> list[R]:
    """[fn(i, batch i) for every batch], batch i computed on rank i mod N and every result sent to
    every rank (pickled), in batch order: sampling split over ranks. As long as fn(i, .) depends
    on i and its batch alone (e.g. its noise from a generator seeded by i), the results are the
    same whatever the world size."""
    mine = {i: fn(i, b) for i, b in enumerate(batches) if i % world.size == world.rank}
    if world.size == 1:
        return [mine[i] for i in range(len(batches))]
    parts: list[dict] = [{} for _ in range(world.size)]
    dist.all_gather_object(parts, mine)
    everything = {i: r for part in parts for i, r in part.items()}
    return [everything[i] for i in range(len(batches))]


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; its gradient is the sum over ranks of the output's gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of x over every rank, differentiable."""
    return _AllReduceSum.apply(x)


class DistributedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are those of the global batch over all ranks:
    per channel the sums of x and x^2 and the count are all-reduced (differentiably, so gradients
    flow to every rank's inputs), then normalised and tracked exactly as one process would.
    Outside a process group, or in eval mode, it is nn.BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        synced = self.training and dist.is_available() and dist.is_initialized()
        if not synced or dist.get_world_size() == 1:
            return super().forward(x)
        local = torch.stack([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3))])
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        sums = all_reduce_sum(torch.cat([local.flatten(), count]))
        c = x.shape[1]
        n = sums[-1]
        mean = sums[:c] / n
        var = sums[c : 2 * c] / n - mean * mean  # biased: what normalises the batch
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (
                    self.momentum
                    if self.momentum is not None
                    else 1.0 / float(self.num_batches_tracked)
                )
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)  # unbiased, as BatchNorm
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every nn.BatchNorm2d replaced (in place) by a DistributedBatchNorm2d holding
    the same weights and running statistics."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            swapped = DistributedBatchNorm2d(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
                device=child.weight.device if child.affine else None,
            )
            swapped.load_state_dict(child.state_dict())
            setattr(module, name, swapped)
        else:
            sync_batchnorm(child)
    return module


def data_parallel(model: nn.Module, world: World) -> nn.Module:
    """The model with synchronised BatchNorm inside DistributedDataParallel (which broadcasts
    rank 0's weights and averages gradients in backward); itself for one process."""
    if world.size == 1:
        return model
    return nn.parallel.DistributedDataParallel(sync_batchnorm(model))
