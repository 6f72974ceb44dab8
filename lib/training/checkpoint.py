"""Checkpoints from which an interrupted training run resumes bit-for-bit: its state plus the
states of the random generators it draws from."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lib.infra.io import atomic_path


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file written every `every` iterations and read back only by a run with the
    same `settings` (lists, not tuples: they survive torch.load)."""

    path: Path
    every: int
    settings: dict

    def due(self, it: int, n_iters: int) -> bool:
        """Save after iteration it? Never after the last: the run is complete then."""
        return it % self.every == 0 and it < n_iters

    def save(self, state: dict, generators: Sequence[torch.Generator]) -> None:
        """state (tensors, numbers, lists, dicts), the settings and the RNG states, atomically."""
        payload = {"settings": self.settings, **state, "rng": rng_states(generators)}
        with atomic_path(self.path) as tmp:
            torch.save(payload, tmp)

    def load(self, generators: Sequence[torch.Generator]) -> dict | None:
        """The saved state, with the RNG states restored, if the file exists and was written
        with these settings; None otherwise. Other settings are ignored with a warning: the file
        cannot tell other data apart, so remove it when the inputs change."""
        if not self.path.exists():
            return None
        saved = torch.load(self.path, map_location="cpu", weights_only=True)
        if saved["settings"] != self.settings:
            warnings.warn(
                f"checkpoint {self.path} was written with other settings; starting afresh",
                stacklevel=3,
            )
            return None
        set_rng_states(saved["rng"], generators)
        return saved

    def remove(self) -> None:
        """Delete the file once the run completes: a later run trains afresh, never returns a
        stale model."""
        self.path.unlink(missing_ok=True)


def rng_states(generators: Sequence[torch.Generator]) -> dict:
    """The states of generators and of torch's global CPU and CUDA generators."""
    # CUDA's global state only if CUDA is in use: asking for it would start a CUDA context.
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {
        "generators": [g.get_state() for g in generators],
        "cpu": torch.get_rng_state(),
        "cuda": cuda,
    }


def set_rng_states(states: dict, generators: Sequence[torch.Generator]) -> None:
    """Restore what `rng_states` returned."""
    for g, state in zip(generators, states["generators"], strict=True):
        g.set_state(state)
    torch.set_rng_state(states["cpu"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
