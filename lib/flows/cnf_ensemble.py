"""Several 1D/2D CNF fits trained together: the seeds of one drift network as one `StackedMLP`
ensemble, each with its own batches and best-validation weights, equal to `cnf.fit` one by one
to float rounding (and faster: small networks are dominated by per-operation overhead)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import nn

from lib.flows.cnf import StandardizedField, base_of, integrate_to_base, log_prob
from lib.nets.mlp import MLP
from lib.nets.stacked_mlp import StackedMLP
from lib.training.ensemble import train_members
from lib.training.loop import TrainResult
from lib.training.lr_schedule import LrSchedule


def fit_together(
    fields: Sequence[nn.Module],
    train: torch.Tensor,
    val: torch.Tensor,
    *,
    generators: Sequence[torch.Generator],
    n_iters: int,
    batch_size: int,
    lr: float,
    n_steps: int,
    method: str = "rk4",
    eval_every: int = 100,
    eval_n_steps: int | None = None,
    eval_method: str | None = None,
    lr_schedule: LrSchedule = "cosine",
    kinetic_weight: float = 0.0,
    progress: bool = True,
) -> list[TrainResult]:
    """`cnf.fit` of several fields at once (seeds of one network on one dataset), trained as one
    `StackedMLP` ensemble by `lib.training.ensemble.train_members`: field k draws its batches
    from generators[k] and ends with its own best-validation weights, as `cnf.fit` one by one would,
    to float rounding. The fields are all `MLP`s, or all `StandardizedField`s of `MLP`s with one
    shift and scale."""
    n = len(fields)
    if len(generators) != n:
        raise ValueError(f"{n} fields need {n} generators, got {len(generators)}")
    model, member_state = _stacked(fields)
    eval_n_steps = eval_n_steps or n_steps
    eval_method = eval_method or method
    base = base_of(model, train.shape[-1], train)
    nll_history: list[list[float]] = [[] for _ in range(n)]

    def loss(it: int) -> torch.Tensor:  # (E,)
        idx = [torch.randperm(len(train), generator=g)[:batch_size] for g in generators]
        y = train[torch.cat(idx).to(train.device)]  # member k's batch: rows k b .. (k + 1) b - 1
        x0, delta, kinetic = integrate_to_base(model, y, n_steps, method, True)
        nll = -(base.log_prob(x0) + delta).reshape(n, -1).mean(1)
        for k, value in enumerate(nll.tolist()):
            nll_history[k].append(value)
        return nll + kinetic_weight * kinetic.reshape(n, -1).mean(1)

    def validate(m: nn.Module) -> torch.Tensor:  # (E,) mean validation log-likelihoods
        return log_prob(m, val.repeat(n, 1), eval_n_steps, eval_method).reshape(n, -1).mean(1)

    results, states = train_members(
        model,
        n,
        loss,
        validate,
        member_state,
        n_iters=n_iters,
        lr=lr,
        lr_schedule=lr_schedule,
        eval_every=eval_every,
        progress=progress,
        desc=f"cnf fit x{n}",
    )
    for field, state in zip(fields, states, strict=True):
        field.load_state_dict(state)
    return [replace(r, train_loss=h) for r, h in zip(results, nll_history, strict=True)]


def _stacked(fields: Sequence[nn.Module]) -> tuple[nn.Module, Callable[[int], dict]]:
    """The fields as one module (a `StackedMLP`, standardized like them), and member k's state
    dict as its own field would hold it."""
    if all(isinstance(f, MLP) for f in fields):
        stacked = StackedMLP(fields)
        return stacked, stacked.member_state
    standardized = all(isinstance(f, StandardizedField) and isinstance(f.net, MLP) for f in fields)
    if not standardized or any(
        not (torch.equal(f.shift, fields[0].shift) and torch.equal(f.scale, fields[0].scale))
        for f in fields
    ):
        raise ValueError("fit_together needs MLPs, or StandardizedFields of MLPs of one data set")
    stacked = StackedMLP([f.net for f in fields])
    shift, scale = fields[0].shift, fields[0].scale
    model = StandardizedField(stacked, shift, scale)

    def member_state(k: int) -> dict:
        state = {f"net.{key}": v for key, v in stacked.member_state(k).items()}
        return state | {"shift": shift.clone(), "scale": scale.clone()}

    return model, member_state
