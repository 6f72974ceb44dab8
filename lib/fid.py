"""Fréchet distance (FID) on the penultimate features of a small CNN classifier trained here.

The Inception network of the usual FID cannot be downloaded in this setting, so the features are
those of `Classifier`, trained by the pipeline on the same image data. FID = the Fréchet (2-
Wasserstein) distance between Gaussians fitted to the features of two image sets:

    FID = |mu_1 - mu_2|^2 + tr(C_1 + C_2 - 2 (C_1^{1/2} C_2 C_1^{1/2})^{1/2}).

Values are not comparable with published (Inception) FIDs, and comparable with one another only
for one classifier (its weights and feature_dim) and one sample size: the plug-in estimate is
biased upward at small n (the sample covariances' noise adds a positive term of order
feature_dim / n), so every FID is printed beside the real-vs-real floor at the same n
(`real_floor`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lib.io import atomic_path
from lib.training import LrSchedule, train


def to_model_scale(
    images: torch.Tensor | np.ndarray, n_levels: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Integer images (N, C, H, W) in 0..K-1 -> float32 in [-1, 1]: 2 x / (K - 1) - 1.

    The scale the generative models' samples live in, and so the classifier's input scale.
    """
    x = torch.as_tensor(images).to(device=device, dtype=torch.float32)
    return 2 * x / (n_levels - 1) - 1


class Classifier(nn.Module):
    """A small CNN: images (n, C, H, W) in the model scale [-1, 1] -> logits (n, n_classes).

    One block per entry of `channels`: two 3x3 convolutions with SiLU, the second of stride 2
    (halving H and W). Global average pooling then makes the network size-agnostic (8x8 digits,
    28x28 MNIST, 32x32 CIFAR); a linear layer gives the feature_dim features (after SiLU) that
    FID uses, and a last linear layer the logits.
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int = 10,
        channels: tuple[int, ...] = (32, 64),
        feature_dim: int = 128,
    ):
        super().__init__()
        if not channels or min(channels) < 1 or feature_dim < 1:
            raise ValueError(
                f"channels must be a non-empty list of positive widths and feature_dim positive, "
                f"got channels={list(channels)}, feature_dim={feature_dim}"
            )
        self.sizes = {  # what rebuilds it: see save_classifier / load_classifier
            "in_channels": in_channels,
            "n_classes": n_classes,
            "channels": list(channels),
            "feature_dim": feature_dim,
        }
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.SiLU()]
            layers += [nn.Conv2d(c, c, 3, stride=2, padding=1), nn.SiLU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        self.embed = nn.Linear(c_in, feature_dim)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: (n, C, H, W) -> (n, feature_dim)."""
        h = self.conv(x).mean(dim=(-2, -1))  # global average pooling: (n, channels[-1])
        return F.silu(self.embed(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


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
def extract_features(
    model: Classifier, images: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """model.features in eval mode, batched on the model's device: (N, ...) -> (N, F) on CPU."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    out = [
        model.features(images[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def accuracy(
    model: Classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500
) -> float:
    """Fraction of images whose arg-max logit is the label (eval mode, batched)."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    labels = torch.as_tensor(labels)
    correct = 0
    for i in range(0, len(images), batch_size):
        pred = model(images[i : i + batch_size].to(device)).argmax(-1).cpu()
        correct += (pred == labels[i : i + batch_size].cpu()).sum().item()
    model.train(was_training)
    return correct / len(images)


@dataclass(frozen=True)
class ClassifierResult:
    train_loss: list[float]  # cross-entropy of each mini-batch
    val_iters: list[int]  # iterations after which the validation accuracy was measured
    val_accuracy: list[float]
    best_val_accuracy: float  # the weights of this evaluation are loaded at the end
    best_iter: int
    seconds: float


def train_classifier(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    val_images: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    n_iters: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    lr_schedule: LrSchedule = "cosine",
    eval_every: int = 100,
    progress: bool = True,
) -> ClassifierResult:
    """Cross-entropy with `lib.training.train`; the weights with the best validation accuracy
    are loaded back into `model`. images: model-scale floats on the model's device (see
    `to_model_scale`); batches drawn without replacement from `generator` (CPU)."""
    labels = torch.as_tensor(labels).to(images.device)

    def loss(it: int) -> torch.Tensor:
        idx = torch.randperm(len(images), generator=generator)[:batch_size].to(images.device)
        return F.cross_entropy(model(images[idx]), labels[idx])

    result = train(
        model,
        loss,
        n_iters=n_iters,
        lr=lr,
        lr_schedule=lr_schedule,
        validate=lambda m: accuracy(m, val_images, val_labels),
        eval_every=eval_every,
        generators=[generator],
        progress=progress,
        desc="classifier",
    )
    return ClassifierResult(
        result.train_loss,
        result.val_iters,
        result.val_values,
        result.best_value,
        result.best_iter,
        result.seconds,
    )


def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F) of features (N, F), in float64."""
    x = np.asarray(torch.as_tensor(features).detach().cpu().double())
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (N, F) with N >= 2, got shape {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; eigenvalues below 0 (round-off) -> 0."""
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """|mu1 - mu2|^2 + tr C1 + tr C2 - 2 tr (C1^{1/2} C2 C1^{1/2})^{1/2}, in float64.

    The cross term is computed from symmetric eigendecompositions only: C1^{1/2} from eigh(C1),
    then the eigenvalues of the symmetric PSD matrix C1^{1/2} C2 C1^{1/2}, clipped at 0 and
    square-rooted. This is real by construction and stable for singular covariances (n < F),
    where scipy.linalg.sqrtm of the non-symmetric C1 C2 may return complex round-off. Not
    clipped at 0: identical inputs give ~1e-8 tr C of either sign (square roots of tiny
    eigenvalues), and a clearly negative value would reveal a bug.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = (
        np.atleast_2d(np.asarray(cov1, np.float64)),
        np.atleast_2d(np.asarray(cov2, np.float64)),
    )
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (len(mu1),) * 2:
        raise ValueError(
            f"need means (F,) and covariances (F, F) of one F, got {mu1.shape}, {cov1.shape}, "
            f"{mu2.shape}, {cov2.shape}"
        )
    cov1, cov2 = (cov1 + cov1.T) / 2, (cov2 + cov2.T) / 2
    s1 = _sqrt_psd(cov1)
    m = s1 @ cov2 @ s1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def fid(
    model: Classifier, images_a: torch.Tensor, images_b: torch.Tensor, batch_size: int = 500
) -> float:
    """FID between two image sets (N_a, C, H, W), (N_b, C, H, W) in the model scale."""
    mu_a, cov_a = feature_stats(extract_features(model, images_a, batch_size))
    mu_b, cov_b = feature_stats(extract_features(model, images_b, batch_size))
    return frechet_distance(mu_a, cov_a, mu_b, cov_b)


def real_floor(
    model: Classifier,
    real_images: torch.Tensor,
    n: int,
    generator: torch.Generator,
    batch_size: int = 500,
) -> float:
    """FID between two disjoint random sets of n real images each (needs 2n <= N).

    What two samples of the same distribution score at this n: FID's small-sample bias. A
    generated set of n images scored against n real ones is read against this floor, not 0.
    """
    if n < 2 or 2 * n > len(real_images):
        raise ValueError(
            f"real_floor needs 2 <= n and 2 n <= {len(real_images)} real images, got n = {n}"
        )
    perm = torch.randperm(len(real_images), generator=generator)
    first, second = perm[:n], perm[n : 2 * n]
    return fid(model, real_images[first], real_images[second], batch_size)


def fid_with_floor(
    model: Classifier,
    generated: torch.Tensor,
    real_images: torch.Tensor,
    generator: torch.Generator,
    batch_size: int = 500,
) -> dict:
    """{"fid", "floor", "n"}: FID of n generated images against n random real ones, and the
    real-vs-real floor from two other disjoint sets of n real images (needs 3n <= N real)."""
    n = len(generated)
    if 3 * n > len(real_images):
        raise ValueError(f"need 3 n = {3 * n} real images for n = {n}, have {len(real_images)}")
    perm = torch.randperm(len(real_images), generator=generator)
    reference, rest = real_images[perm[:n]], real_images[perm[n:]]
    value = fid(model, generated, reference, batch_size)
    floor = real_floor(model, rest, n, generator, batch_size)
    return {"fid": value, "floor": floor, "n": n}


class FidReference:
    """FID of image sets against one fixed real reference set, beside its real-vs-real floor.

    From a pool of real images (N, C, H, W) in the model scale, a seeded permutation takes a
    reference set of n; the other N - n images are the floor's. `floor` is the mean FID against
    the reference of `n_floor` random sets of n real images drawn from those others (each one
    disjoint from the reference, as the issue's "two disjoint real sets" asks): what a perfect
    generator of n images scores on average, FID's small-sample bias. `floor_sd` is their spread,
    the noise of one FID at this n. On the 8x8 digits (n = 500, 128 features) one random pair
    scores anywhere from 14 to 41, so a single draw would be a poor yardstick.

    Every call scores n images against the same reference (statistics computed once), so the
    FIDs of different samplers are paired comparisons, free of the reference set's noise.
    """

    def __init__(
        self,
        model: Classifier,
        real_images: torch.Tensor,
        n: int,
        generator: torch.Generator,
        n_floor: int = 10,
        batch_size: int = 500,
    ):
        if n < 2 or 2 * n > len(real_images) or n_floor < 1:
            raise ValueError(
                f"FID sets of n = {n} images need 2 n <= {len(real_images)} real images "
                f"and n_floor >= 1 (got {n_floor})"
            )
        self.model, self.n, self.batch_size = model, n, batch_size
        perm = torch.randperm(len(real_images), generator=generator)
        self.stats = self._stats(real_images[perm[:n]])
        others = real_images[perm[n:]]
        floors = [
            self(others[torch.randperm(len(others), generator=generator)[:n]])
            for _ in range(n_floor)
        ]
        self.floor = float(np.mean(floors))
        self.floor_sd = float(np.std(floors, ddof=1)) if n_floor > 1 else math.nan
        self.floors = floors

    def _stats(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return feature_stats(extract_features(self.model, images, self.batch_size))

    def __call__(self, images: torch.Tensor) -> float:
        """FID of n images (model scale) against the reference set."""
        if len(images) != self.n:
            raise ValueError(
                f"score sets of n = {self.n} images (the floor's size), got {len(images)}"
            )
        return frechet_distance(*self._stats(images), *self.stats)
