"""The feature classifier: a small CNN trained by the pipeline on the image data, whose
penultimate activations are the features of every sample-quality metric (KID, FID, precision and
recall) where the Inception network is not available.

Scale. The generative models see the dequantized images z = 2(x + u)/K - 1, u ~ U[0, 1)^D
(`lib.likelihood.dequantize`), so the classifier is trained on exactly those, drawn afresh at
every batch, and an integer image (real, or generated and quantized) is scored at the centres of
its bins, 2(x + 1/2)/K - 1 = E_u z (`to_model_scale`). Augmentation: a random shift of up to
`max_shift` pixels (zero padding in intensity, i.e. background for the digits and MNIST), which
the digits need to generalise from about a thousand training images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lib.flows.likelihood import dequantize
from lib.infra.io import atomic_path
from lib.training.loop import LrSchedule, TrainResult, train


def to_model_scale(
    images: torch.Tensor | np.ndarray, n_levels: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Integer images (N, C, H, W) in 0..K-1 -> float32 bin centres 2 (x + 1/2) / K - 1.

    The mean of the models' dequantized z = 2 (x + u) / K - 1 over u, so a scored image sits at
    the centre of what the classifier was trained on."""
    x = torch.as_tensor(images).to(device=device, dtype=torch.float32)
    return 2 * (x + 0.5) / n_levels - 1


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image (N, C, H, W) moved by its own (dy, dx) in [-max_shift, max_shift]^2, the
    uncovered border filled with 0; offsets drawn from `generator` (CPU)."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    s = max_shift
    padded = F.pad(images, (s, s, s, s))
    dy, dx = torch.randint(0, 2 * s + 1, (2, n), generator=generator).to(images.device)
    rows = dy[:, None] + torch.arange(h, device=images.device)  # (N, H)
    cols = dx[:, None] + torch.arange(w, device=images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2)


class Classifier(nn.Module):
    """A small CNN: images (n, C, H, W) in the model scale [-1, 1] -> logits (n, n_classes).

    One block per entry of `channels`: two 3x3 convolutions, each followed by BatchNorm (when
    batch_norm) and SiLU, the second of stride 2 (halving H and W). Global average pooling then
    makes the network size-agnostic (8x8 digits, 28x28 MNIST, 32x32 CIFAR); a linear layer gives
    the feature_dim features (after SiLU) that the metrics use, dropout, and a last linear layer
    the logits.
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int = 10,
        channels: tuple[int, ...] = (32, 64),
        feature_dim: int = 128,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        if not channels or min(channels) < 1 or feature_dim < 1 or not 0 <= dropout < 1:
            raise ValueError(
                f"channels must be a non-empty list of positive widths, feature_dim positive and "
                f"dropout in [0, 1), got channels={list(channels)}, feature_dim={feature_dim}, "
                f"dropout={dropout}"
            )
        self.sizes = {  # what rebuilds it: see save_classifier / load_classifier
            "in_channels": in_channels,
            "n_classes": n_classes,
            "channels": list(channels),
            "feature_dim": feature_dim,
            "dropout": dropout,
            "batch_norm": batch_norm,
        }

        def conv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            norm = [nn.BatchNorm2d(c_out)] if batch_norm else []
            return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), *norm, nn.SiLU()]

        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += conv(c_in, c, 1) + conv(c, c, 2)
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.embed = nn.Linear(c_in, feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: (n, C, H, W) -> (n, feature_dim)."""
        h = self.conv(x).mean(dim=(-2, -1))  # global average pooling: (n, channels[-1])
        return F.silu(self.embed(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def save_classifier(path: str | Path, model: Classifier) -> None:
    """Weights and sizes, atomically."""
    with atomic_path(path) as tmp:
        torch.save({"sizes": model.sizes, "state_dict": model.state_dict()}, tmp)


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> Classifier:
    """The classifier saved by `save_classifier`, in eval mode on device."""
    record = torch.load(path, map_location=device, weights_only=True)
    sizes = {**record["sizes"], "channels": tuple(record["sizes"]["channels"])}
    model = Classifier(**sizes).to(device)
    model.load_state_dict(record["state_dict"])
    return model.eval()


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _batched(fn, model: Classifier, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """fn(model, batch) over batches of images in eval mode on the model's device, concatenated
    on the CPU; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    out = [
        fn(model, images[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out)


def extract_features(
    model: Classifier, images: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """Penultimate features of images (N, ...) in the model scale: (N, F) on the CPU."""
    return _batched(Classifier.features, model, images, batch_size)


def accuracy(
    model: Classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500
) -> float:
    """Fraction of images (model scale) whose arg-max logit is the label."""
    logits = _batched(Classifier.forward, model, images, batch_size)
    return (logits.argmax(-1) == torch.as_tensor(labels)).double().mean().item()


def cross_entropy(
    model: Classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500
) -> float:
    """Mean cross-entropy (nats) of images (model scale) against their labels: a selection
    criterion without the ties of accuracy on a small, nearly solved set."""
    logits = _batched(Classifier.forward, model, images, batch_size)
    return F.cross_entropy(logits, torch.as_tensor(labels).long()).item()


@dataclass(frozen=True)
class Augmentation:
    max_shift: int = 0  # pixels, each direction
    dequantize: bool = True  # train on 2 (x + u) / K - 1, as the generative models see them


def train_classifier(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    n_levels: int,
    val_images: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    n_iters: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    augmentation: Augmentation = Augmentation(),
    weight_decay: float = 0.0,
    label_smoothing: float = 0.0,
    lr_schedule: LrSchedule = "cosine",
    eval_every: int = 100,
    progress: bool = True,
) -> TrainResult:
    """Cross-entropy with label_smoothing (+ weight_decay/2 |w|^2 on the weights of the
    convolutions and linear layers, not on biases or BatchNorm) with
    `lib.training.train`; returns its `TrainResult`, the weights with the lowest validation
    cross-entropy loaded into `model`. images: integer (N, C, H, W) in 0..K-1 on the model's device,
    augmented and dequantized per batch; val_images: model scale (`to_model_scale`). Batches,
    shifts and dequantization noise come from `generator` (CPU)."""
    labels = torch.as_tensor(labels).to(images.device)
    decayed = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]

    def loss(it: int) -> torch.Tensor:
        idx = torch.randperm(len(images), generator=generator)[:batch_size].to(images.device)
        x = random_shift(images[idx], augmentation.max_shift, generator)
        if augmentation.dequantize:
            x = dequantize(x, n_levels, generator)
        else:
            x = to_model_scale(x, n_levels, x.device)
        value = F.cross_entropy(model(x), labels[idx], label_smoothing=label_smoothing)
        if weight_decay > 0:
            value = value + 0.5 * weight_decay * sum(p.pow(2).sum() for p in decayed)
        return value

    return train(
        model,
        loss,
        n_iters=n_iters,
        lr=lr,
        lr_schedule=lr_schedule,
        validate=lambda m: cross_entropy(m, val_images, val_labels),
        maximize=False,
        eval_every=eval_every,
        generators=[generator],
        progress=progress,
        desc="classifier",
    )
