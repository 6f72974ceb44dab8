"""The compute device comes from the environment (DEVICE), never from params."""

from __future__ import annotations

import os

import torch


def get_device() -> torch.device:
    """DEVICE=auto (default: CUDA when present, else CPU), cpu, cuda, cuda:N or mps."""
    name = os.environ.get("DEVICE", "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"DEVICE={name!r} is not a device; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"DEVICE={name!r} but CUDA is not available here; use DEVICE=cpu or auto")
    return device
