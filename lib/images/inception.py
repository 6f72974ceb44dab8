"""Inception features for FID / KID / precision-recall, as published scores compute them.

torch-fidelity's InceptionV3 ("inception-v3-compat") reproduces the TensorFlow FID network
(bilinear resize to 299x299 as TF1 does, the 2015-12-05 weights): its 2048 pool features are the
usual ones. The weights are read from a local file only; nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import (
    URL_INCEPTION_V3,
    FeatureExtractorInceptionV3,
)

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"


def load_inception(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """torch-fidelity's TF-compatible InceptionV3 giving the 2048 pool features, in eval mode.

    Raises FileNotFoundError when path does not exist: the network is never downloaded (the
    constructor would download for a None path, so path is always given).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Inception weights not found at {path} (sample.inception.weights); nothing is "
            f"downloaded. Put torch-fidelity's {WEIGHTS_FILE} there (from {URL_INCEPTION_V3}, "
            f"fetched on a machine with network access) or set sample.inception.weights in "
            f"params.yaml to its path."
        )
    model = FeatureExtractorInceptionV3(
        name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)
    )
    return model.to(device).eval()


def to_uint8(images: torch.Tensor | np.ndarray, n_levels: int) -> torch.Tensor:
    """Integer images in 0..K-1 -> uint8 in 0..255: round(x · 255 / (K - 1))."""
    x = torch.as_tensor(images)
    if n_levels < 2:
        raise ValueError(f"n_levels must be >= 2, got {n_levels}")
    if x.numel() and (x.min() < 0 or x.max() > n_levels - 1):
        raise ValueError(
            f"images must lie in 0..{n_levels - 1} (n_levels={n_levels}), got values in "
            f"{x.min().item()}..{x.max().item()}"
        )
    return torch.round(x.double() * 255 / (n_levels - 1)).to(torch.uint8)


@torch.no_grad()
def inception_features(
    model: nn.Module, images: torch.Tensor | np.ndarray, n_levels: int, batch_size: int = 100
) -> torch.Tensor:
    """2048 Inception features (N, 2048), float32 on CPU, of integer images (N, C, H, W) in
    0..n_levels-1 with C = 1 (repeated to RGB) or 3; batched on the model's device."""
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"images must be (N, C, H, W) with C = 1 or 3 channels, got shape {tuple(x.shape)}"
        )
    device = next(model.parameters()).device
    out = []
    for batch in x.split(batch_size):
        rgb = to_uint8(batch, n_levels).expand(-1, 3, -1, -1)  # one channel repeated, or as is
        (features,) = model(rgb.to(device))
        out.append(features.float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 2048)
