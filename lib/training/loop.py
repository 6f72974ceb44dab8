"""One training loop for every model: Adam with a learning-rate schedule (`lr_schedule`),
optional gradient clipping and EMA weights (`ema`), periodic validation that keeps the best
weights (`selection`), and checkpoints from which an interrupted run resumes bit-for-bit
(`checkpoint`).

The caller owns the data: `loss_fn(it)` draws its own batch (from its own generator) and returns
the scalar loss of iteration `it` (1-based); `validate(model)` returns one number per evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from lib.infra.distributed import is_main_process, mean_over_ranks
from lib.infra.phases import phase
from lib.training.checkpoint import Checkpoint
from lib.training.ema import ema_decay_at, make_ema, update_ema
from lib.training.lr_schedule import LR_SCHEDULES, LrSchedule, learning_rate
from lib.training.selection import Selection


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
    ends holding EMA weights, never the raw ones. `model` ends in the mode it came in.
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

    Under data parallelism (`lib.infra.distributed`: loss_fn takes this rank's shard of the
    global batch through a DistributedDataParallel forward) every rank runs this loop: the loss
    recorded is the mean over ranks (the global batch's), and rank 0 alone writes checkpoints and
    shows progress. A checkpoint holds no world size: a run resumes on any number of processes.
    """
    _check_settings(n_iters, lr_schedule, warmup, ema_decay, eval_every, checkpoint_every)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    ema = make_ema(model) if ema_decay is not None else None
    evaluated = ema if ema is not None else model  # the weights validated, selected and kept
    history: dict[str, list] = {"train_loss": [], "val_iters": [], "val_values": []}
    best = Selection.start(evaluated, maximize)
    saver = None
    if checkpoint is not None:
        settings = {  # what makes a checkpoint this run's
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
        saver = Checkpoint(Path(checkpoint), checkpoint_every or eval_every, settings)
    resumed_from, seconds_before = 0, 0.0
    if saver is not None and (saved := saver.load(generators)) is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if ema is not None:
            ema.load_state_dict(saved["ema"])
        history, best = saved["history"], Selection.from_state_dict(saved["best"], maximize)
        resumed_from, seconds_before = saved["iteration"], saved["seconds"]

    was_training = model.training
    if validate is not None and validate_start and resumed_from == 0:
        _validate(validate, evaluated, model, 0, history, best)
    model.train()
    start = time.perf_counter()
    bar = tqdm(
        range(resumed_from + 1, n_iters + 1),
        initial=resumed_from,
        total=n_iters,
        desc=desc,
        disable=None if progress and is_main_process() else True,
    )
    with phase("training"):  # validation inside is its own phase
        for it in bar:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(it, n_iters, lr, lr_schedule, warmup)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(it)
            if loss.ndim != 0:
                raise ValueError(
                    f"loss_fn must return a scalar tensor, got shape {tuple(loss.shape)}"
                )
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            if ema is not None:
                update_ema(ema, model, ema_decay_at(ema_decay, it))
            history["train_loss"].append(mean_over_ranks(loss.detach()).item())

            if validate is not None and (it % eval_every == 0 or it == n_iters):
                value = _validate(validate, evaluated, model, it, history, best)
                bar.set_postfix(
                    loss=f"{loss.item():.4g}", val=f"{value:.4g}", best=f"{best.value:.4g}"
                )
            if saver is not None and saver.due(it, n_iters) and is_main_process():
                state = {
                    "iteration": it,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "history": history,
                    "best": best.state_dict(),
                    "seconds": seconds_before + time.perf_counter() - start,
                }
                saver.save(state, generators)

    if validate is not None:
        evaluated.load_state_dict(best.state)
    if ema is not None:
        model.load_state_dict(ema.state_dict())
    model.train(was_training)
    if saver is not None and is_main_process():
        saver.remove()
    best_value = best.value if validate is not None and math.isfinite(best.value) else math.nan
    return TrainResult(
        train_loss=history["train_loss"],
        val_iters=history["val_iters"],
        val_values=history["val_values"],
        best_value=best_value,
        best_iter=best.iter if validate is not None else n_iters,
        seconds=seconds_before + time.perf_counter() - start,
        resumed_from=resumed_from,
    )


def _validate(
    validate: Callable[[nn.Module], float],
    evaluated: nn.Module,
    model: nn.Module,
    it: int,
    history: dict[str, list],
    best: Selection,
) -> float:
    """validate(evaluated) in eval mode after iteration it, recorded and offered to the
    selection; `model` is put back in training mode."""
    evaluated.eval()
    with phase("validation"):
        value = float(validate(evaluated))
    model.train()
    history["val_iters"].append(it)
    history["val_values"].append(value)
    best.offer(value, it, evaluated)
    return value


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
