"""Training curves as dvclive logs, declared as plots in dvc.yaml: one `dvclive.Live` per fit,
in <stage results>/live/<tag>, holding plots/metrics/train/loss.tsv (the loss at every
iteration) and plots/metrics/val/<name>.tsv (each validation), both with columns step, value.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from dvclive import Live

from lib.infra.io import atomic_path


def log_curves(
    out_dir: Path,
    tag: str,
    train_loss: Sequence[float],
    val_iters: Sequence[int] = (),
    val_values: Sequence[float] = (),
    val_name: str = "value",
) -> Path:
    """Log one fit's curves, after the fit, to out_dir/live/tag (returned); iterations 1-based.

    No dvc.yaml (dvcyaml=False: the root one declares the plots), no experiment, no report, no
    timestamps; and no `end()`, whose summary metrics.json would sit among the plotted files
    (DVC plots every file of the folder) and repeat the stage's metrics. So the files are a
    deterministic function of the values. Live removes the folder's earlier logs first.
    """
    live_dir = out_dir / "live" / tag
    live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
    for it, loss in enumerate(train_loss, start=1):
        live.step = it
        live.log_metric("train/loss", loss, timestamp=False)
    for it, value in zip(val_iters, val_values, strict=True):
        live.step = it
        live.log_metric(f"val/{val_name}", value, timestamp=False)
    return live_dir


def save_fit(
    out_dir: Path,
    model_path: Path,
    model: torch.nn.Module,
    train_loss: Sequence[float],
    val_iters: Sequence[int],
    val_name: str,
    val_values: Sequence[float],
) -> None:
    """A trained model's artefacts: its weights at model_path and its curves (`log_curves`)
    under the tag model_path.stem."""
    log_curves(out_dir, model_path.stem, train_loss, val_iters, val_values, val_name)
    with atomic_path(model_path) as tmp:
        torch.save(model.state_dict(), tmp)
