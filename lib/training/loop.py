"""One training loop for every model: Adam with a learning-rate schedule, optional gradient
clipping and EMA weights, periodic validation that keeps the best weights, and checkpoints from
which an interrupted run resumes bit-for-bit.

The caller owns the data: `loss_fn(it)` draws its own batch (from its own generator) and returns
the scalar loss of iteration `it` (1-based); `validate(model)` returns one number per evaluation.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from lib.infra.io import atomic_path

LrSchedule = Literal["constant", "cosine"]
LR_SCHEDULES = ("constant", "cosine")


def learning_rate(
    it: int, n_iters: int, lr: float, schedule: LrSchedule = "cosine", warmup: int = 0
) -> float:
    """Step size of iteration it (1-based): lr * it / warmup during the warmup, then lr, or
    lr (1 + cos(pi p)) / 2 with p = (it - warmup - 1) / (n_iters - warmup) in [0, 1) for cosine.

    The cosine's last step is lr (pi / (n_iters - warmup))^2 / 4, ~0 but not a wasted zero step.
    """
    if it <= warmup:
        return lr * it / warmup
    if schedule == "constant":
        return lr
    progress = (it - warmup - 1) / (n_iters - warmup)
    return 0.5 * lr * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class TrainResult:
    train_loss: list[float]  # loss_fn's value at every iteration
    val_iters: list[int]  # iterations (1-based) after which `validate` ran
    val_values: list[float]  # what it returned
    best_value: float  # the best of val_values (NaN without validate, or if none was a number)
    best_iter: int  # whose weights end in the model (n_iters without validate; 0: initial ones)
    seconds: float  # wall time of the iterations kept, summed over resumes, validation included
    resumed_from: int  # the checkpoint's iteration the run resumed from (0: a fresh start)


def train(
    model: nn.Module,
    loss_fn: Callable[[int], torch.Tensor],
    *,
    n_iters: int,
    lr: float,
    lr_schedule: LrSchedule = "cosine",
    warmup: int = 0,
    grad_clip: float | None = None,
    ema_decay: float | None = None,
    validate: Callable[[nn.Module], float] | None = None,
    eval_every: int = 100,
    validate_start: bool = False,
    maximize: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    generators: Sequence[torch.Generator] = (),
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """Minimise loss_fn with Adam over the parameters that require grad (others stay frozen).

    Each iteration: lr from `learning_rate`, loss_fn(it).backward(), gradient norm clipped to
    grad_clip, Adam step, then the EMA update w_ema <- d_it w_ema + (1 - d_it) w, w_ema starting
    at the initial weights, with the warmed-up decay d_it = min(ema_decay, (1 + it) / (10 + it))
    (`ema_decay_at`; buffers are copied). A constant decay d would keep a weight d^n of the random
    initial weights after n steps: 0.14 after 2000 steps at d = 0.999, enough to spoil a model.
    The evaluated weights are the EMA's when ema_decay is set, else the model's: `validate`
    sees them (in eval mode) every eval_every iterations and at the last, and the best (max, or
    min with maximize=False; NaN never wins) are loaded into `model` at the end. Without
    validate, `model` ends with the final evaluated weights. So with ema_decay, `model` always
    ends holding EMA weights, never the raw ones.
    validate_start=True also validates the weights before the first step (iteration 0), so that
    fine-tuning never ends worse, by the validation measure, than where it started.

    checkpoint: every checkpoint_every iterations (default eval_every) the whole state (weights,
    Adam, EMA, best weights, histories, the states of `generators` and of torch's global CPU and
    CUDA generators) is written atomically to this file. A run that finds a checkpoint with the
    same settings and parameter shapes resumes from it and ends bit-identical to an uninterrupted
    run, provided loss_fn and validate draw randomness only from those generators and the
    computation is deterministic. A checkpoint from other settings is ignored with a warning (it
    cannot tell other data apart: remove it when the inputs change). The file is deleted once the
    run completes: a later run with the same settings trains afresh, never returns a stale model.
    """
    _check_settings(n_iters, lr_schedule, warmup, ema_decay, eval_every, checkpoint_every)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    checkpoint_every = checkpoint_every or eval_every
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    ema = None
    if ema_decay is not None:
        ema = copy.deepcopy(model).requires_grad_(False)
    evaluated = ema if ema is not None else model
    settings = {  # what makes a checkpoint this run's (lists, not tuples: they survive torch.load)
        "n_iters": n_iters,
        "lr": lr,
        "lr_schedule": lr_schedule,
        "warmup": warmup,
        "grad_clip": grad_clip,
        "ema_decay": ema_decay,
        "eval_every": eval_every if validate is not None else None,
        "maximize": maximize,
        "validate_start": validate_start,
        "n_generators": len(generators),
        "parameters": [[name, list(p.shape)] for name, p in model.named_parameters()],
    }
    history: dict[str, list] = {"train_loss": [], "val_iters": [], "val_values": []}
    best = {"value": -math.inf if maximize else math.inf, "iter": 0, "state": _clone(evaluated)}
    resumed_from, seconds_before = 0, 0.0
    if checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if saved["settings"] == settings:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            if ema is not None:
                ema.load_state_dict(saved["ema"])
            history, best = saved["history"], saved["best"]
            _set_rng_states(saved["rng"], generators)
            resumed_from, seconds_before = saved["iteration"], saved["seconds"]
        else:
            warnings.warn(
                f"checkpoint {checkpoint} was written with other settings; starting afresh",
                stacklevel=2,
            )

    if validate is not None and validate_start and resumed_from == 0:
        evaluated.eval()
        value = float(validate(evaluated))
        history["val_iters"].append(0)
        history["val_values"].append(value)
        if value == value:  # not NaN
            best["value"] = value

    was_training = model.training
    model.train()
    start = time.perf_counter()
    bar = tqdm(
        range(resumed_from + 1, n_iters + 1),
        initial=resumed_from,
        total=n_iters,
        desc=desc,
        disable=None if progress else True,
    )
    for it in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(it, n_iters, lr, lr_schedule, warmup)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(it)
        if loss.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar tensor, got shape {tuple(loss.shape)}")
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        if ema is not None:
            _update_ema(ema, model, ema_decay_at(ema_decay, it))
        history["train_loss"].append(loss.item())

        if validate is not None and (it % eval_every == 0 or it == n_iters):
            evaluated.eval()
            value = float(validate(evaluated))
            model.train()
            history["val_iters"].append(it)
            history["val_values"].append(value)
            if value > best["value"] if maximize else value < best["value"]:  # NaN never wins
                best = {"value": value, "iter": it, "state": _clone(evaluated)}
            bar.set_postfix(
                loss=f"{loss.item():.4g}", val=f"{value:.4g}", best=f"{best['value']:.4g}"
            )

        if checkpoint is not None and it % checkpoint_every == 0 and it < n_iters:
            payload = {
                "settings": settings,
                "iteration": it,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "history": history,
                "best": best,
                "rng": _rng_states(generators),
                "seconds": seconds_before + time.perf_counter() - start,
            }
            with atomic_path(checkpoint) as tmp:
                torch.save(payload, tmp)

    if validate is not None:
        evaluated.load_state_dict(best["state"])
    else:
        best = {"value": math.nan, "iter": n_iters}
    if ema is not None:
        model.load_state_dict(ema.state_dict())
    model.train(was_training)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return TrainResult(
        train_loss=history["train_loss"],
        val_iters=history["val_iters"],
        val_values=history["val_values"],
        best_value=best["value"] if math.isfinite(best["value"]) else math.nan,
        best_iter=best["iter"],
        seconds=seconds_before + time.perf_counter() - start,
        resumed_from=resumed_from,
    )


def _check_settings(
    n_iters: int,
    lr_schedule: str,
    warmup: int,
    ema_decay: float | None,
    eval_every: int,
    checkpoint_every: int | None,
) -> None:
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; allowed: {list(LR_SCHEDULES)}")
    if n_iters < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")
    if not 0 <= warmup < n_iters:
        raise ValueError(f"warmup must be in [0, n_iters = {n_iters}), got {warmup}")
    if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1) or None, got {ema_decay}")
    if eval_every < 1 or (checkpoint_every is not None and checkpoint_every < 1):
        raise ValueError(
            f"eval_every and checkpoint_every must be >= 1, got {eval_every}, {checkpoint_every}"
        )


def _clone(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def ema_decay_at(decay: float, it: int) -> float:
    """The EMA decay at iteration it (1-based): min(decay, (1 + it) / (10 + it)). Early on the
    average forgets quickly, so the initial weights' share decays to 0 instead of to decay^n."""
    return min(decay, (1 + it) / (10 + it))


@torch.no_grad()
def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def _rng_states(generators: Sequence[torch.Generator]) -> dict:
    # CUDA's global state only if CUDA is in use: asking for it would start a CUDA context.
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {
        "generators": [g.get_state() for g in generators],
        "cpu": torch.get_rng_state(),
        "cuda": cuda,
    }


def _set_rng_states(states: dict, generators: Sequence[torch.Generator]) -> None:
    for g, state in zip(generators, states["generators"], strict=True):
        g.set_state(state)
    torch.set_rng_state(states["cpu"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
