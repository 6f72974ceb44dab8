"""Independent fits trained together: E members held in one module (e.g. `StackedMLP`), one
Adam step for all, each member with its own loss, validation and best-weights selection.

Adam is element-wise and the members share no weights, so minimising the sum of the members'
losses moves every member exactly as its own run would: the results equal E one-by-one
`lib.training.train` runs to float rounding, given the same initial weights and batches. What
is gained is fewer, larger operations (small models are dominated by per-operation overhead).
No gradient clipping, EMA or checkpoints: the fits this serves are short and use none.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from lib.infra.phases import phase
from lib.training.loop import TrainResult
from lib.training.lr_schedule import LR_SCHEDULES, LrSchedule, learning_rate
from lib.training.selection import Selection


def train_members(
    model: nn.Module,
    n_members: int,
    loss_fn: Callable[[int], torch.Tensor],
    validate: Callable[[nn.Module], torch.Tensor],
    member_state: Callable[[int], dict[str, torch.Tensor]],
    *,
    n_iters: int,
    lr: float,
    lr_schedule: LrSchedule = "cosine",
    eval_every: int = 100,
    maximize: bool = True,
    progress: bool = True,
    desc: str = "train members",
) -> tuple[list[TrainResult], list[dict[str, torch.Tensor]]]:
    """Minimise loss_fn(it).sum() with Adam; loss_fn returns the E members' losses (E,).

    validate(model) returns the E members' validation values (E,); it runs every eval_every
    iterations and at the last, in eval mode, and member k's best weights (member_state(k), the
    state dict of the member's own module) are kept by its own `Selection`. Returns per member
    its `TrainResult` (seconds: the ensemble's wall time / E, the member's share) and its best
    state; `model` ends with the last weights.
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; allowed: {list(LR_SCHEDULES)}")
    if n_iters < 1 or eval_every < 1:
        raise ValueError(f"n_iters and eval_every must be >= 1, got {n_iters}, {eval_every}")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    best = [Selection.start(_Member(member_state, k), maximize) for k in range(n_members)]
    losses: list[list[float]] = [[] for _ in range(n_members)]
    values: list[list[float]] = [[] for _ in range(n_members)]
    val_iters: list[int] = []
    was_training = model.training
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(1, n_iters + 1), total=n_iters, desc=desc, disable=None if progress else True)
    with phase("training"):  # validation inside is its own phase
        for it in bar:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(it, n_iters, lr, lr_schedule, 0)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(it)
            if loss.shape != (n_members,):
                raise ValueError(f"loss_fn must return ({n_members},), got {tuple(loss.shape)}")
            loss.sum().backward()
            optimizer.step()
            for k, value in enumerate(loss.tolist()):
                losses[k].append(value)
            if it % eval_every == 0 or it == n_iters:
                model.eval()
                with phase("validation"):
                    scores = validate(model).detach().reshape(n_members).tolist()
                model.train()
                val_iters.append(it)
                for k, value in enumerate(scores):
                    values[k].append(value)
                    best[k].offer(value, it, _Member(member_state, k))
    model.train(was_training)
    seconds = (time.perf_counter() - start) / n_members
    results = [
        TrainResult(
            train_loss=losses[k],
            val_iters=list(val_iters),
            val_values=values[k],
            best_value=best[k].value if math.isfinite(best[k].value) else math.nan,
            best_iter=best[k].iter,
            seconds=seconds,
            resumed_from=0,
        )
        for k in range(n_members)
    ]
    return results, [b.state for b in best]


class _Member:
    """Member k of the ensemble where `Selection` expects a module: it only reads state_dict."""

    def __init__(self, member_state: Callable[[int], dict[str, torch.Tensor]], k: int):
        self.member_state, self.k = member_state, k

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.member_state(self.k)
