"""DCGAN-style generator and discriminator (Radford et al. 2016), sized by one `GanConfig`.

Layout, for channels [c_0, ..., c_{L-1}] (one per resolution level, coarse to fine) and images
(C, H, W) with H, W multiples of 2^(L-1); the generator starts at (H_0, W_0) = (H, W) / 2^(L-1):

    Generator      z (n, latent_dim) -> linear -> (n, c_0, H_0, W_0) -> [BatchNorm] -> ReLU
                   level i >= 1: 4x4 stride-2 transposed conv c_{i-1} -> c_i (doubles H, W)
                                 -> [BatchNorm] -> ReLU
                   3x3 conv c_{L-1} -> C -> tanh: images in (-1, 1), the model scale
    Discriminator  3x3 conv C -> c_{L-1} -> LeakyReLU(0.2)
                   level i from L-1 down to 1: 4x4 stride-2 conv c_i -> c_{i-1} (halves H, W)
                                 -> LeakyReLU(0.2)
                   flatten -> linear c_0 H_0 W_0 -> 1: the logit d(x), D(x) = sigmoid(d(x))

The discriminator has no BatchNorm: d(x) of one image never depends on the rest of its batch, so
it can serve as an energy (the ddls stage). Its stabiliser is the optional spectral norm
(Miyato et al. 2018) on every conv and linear layer: W / sigma_max(W), sigma_max estimated by one
power iteration per forward call in train mode (eval mode reuses the stored estimate).

BatchNorm in the generator: call `.eval()` before sampling, so that the running statistics are
used; `load_gan` returns both networks in eval mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from lib.infra.io import atomic_path


@dataclass(frozen=True)
class GanConfig:
    """Sizes of a `Generator` / `Discriminator` pair; channels coarse to fine (L levels)."""

    latent_dim: int = 16
    channels: tuple[int, ...] = (64, 32)
    spectral_norm: bool = True  # on the discriminator's layers
    batch_norm: bool = True  # in the generator

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))  # a list from params is fine
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"gan latent_dim must be a positive int, got {self.latent_dim!r}")
        if not self.channels or not all(isinstance(c, int) and c >= 1 for c in self.channels):
            raise ValueError(
                "gan channels must be a non-empty list of positive ints (one per resolution "
                f"level, coarse to fine), got {list(self.channels)}"
            )
        for key in ("spectral_norm", "batch_norm"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"gan {key} must be true or false, got {getattr(self, key)!r}")


def start_size(config: GanConfig, image_size: int | tuple[int, int]) -> tuple[int, int]:
    """(H_0, W_0) = (H, W) / 2^(L-1), the generator's first resolution; raises unless exact."""
    h, w = _hw(image_size)
    factor = 2 ** (len(config.channels) - 1)
    if h % factor or w % factor or h < factor or w < factor:
        raise ValueError(
            f"a gan with {len(config.channels)} levels (channels {list(config.channels)}) doubles "
            f"the resolution {len(config.channels) - 1} times, so H and W must be positive "
            f"multiples of {factor}; got {h}x{w}: use fewer levels or pad the images"
        )
    return h // factor, w // factor


class Generator(nn.Module):
    """G(z): latent z (n, latent_dim) -> images (n, C, H, W) in (-1, 1)."""

    def __init__(self, config: GanConfig, out_channels: int, image_size: int | tuple[int, int]):
        super().__init__()
        if out_channels < 1:
            raise ValueError(f"gan out_channels must be >= 1, got {out_channels}")
        self.config, self.out_channels = config, out_channels
        self.start = start_size(config, image_size)
        ch = config.channels
        self.linear = nn.Linear(config.latent_dim, ch[0] * self.start[0] * self.start[1])
        self.norm = _norm(ch[0], config.batch_norm)
        # no bias before a BatchNorm: it would be subtracted again, its gradient is zero, and
        # Adam would turn that zero's rounding into steps of size lr (a random walk)
        self.ups = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(c, c_next, 4, stride=2, padding=1, bias=not config.batch_norm),
                _norm(c_next, config.batch_norm),
                nn.ReLU(),
            )
            for c, c_next in zip(ch[:-1], ch[1:])
        )
        self.final = nn.Conv2d(ch[-1], out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"generator expects z of shape (n, {self.config.latent_dim}), got {tuple(z.shape)}"
            )
        h = self.linear(z).reshape(len(z), self.config.channels[0], *self.start)
        h = torch.relu(self.norm(h))
        for up in self.ups:
            h = up(h)
        return torch.tanh(self.final(h))


class Discriminator(nn.Module):
    """d(x): images (n, C, H, W) -> logits (n,); D(x) = sigmoid(d(x)) is P(x is real)."""

    def __init__(self, config: GanConfig, in_channels: int, image_size: int | tuple[int, int]):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"gan in_channels must be >= 1, got {in_channels}")
        self.config, self.in_channels = config, in_channels
        h0, w0 = start_size(config, image_size)
        self.image_size = _hw(image_size)
        ch = config.channels[::-1]  # fine to coarse
        sn = _spectral_norm if config.spectral_norm else (lambda layer: layer)
        layers: list[nn.Module] = [sn(nn.Conv2d(in_channels, ch[0], 3, padding=1)), _lrelu()]
        for c, c_next in zip(ch[:-1], ch[1:]):
            layers += [sn(nn.Conv2d(c, c_next, 4, stride=2, padding=1)), _lrelu()]
        self.features = nn.Sequential(*layers)
        self.linear = sn(nn.Linear(ch[-1] * h0 * w0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != (self.in_channels, *self.image_size):
            raise ValueError(
                f"discriminator expects x of shape (n, {self.in_channels}, "
                f"{self.image_size[0]}, {self.image_size[1]}), got {tuple(x.shape)}"
            )
        return self.linear(self.features(x).flatten(1))[:, 0]


def _hw(image_size: int | tuple[int, int]) -> tuple[int, int]:
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    return int(h), int(w)


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


def save_gan(
    path: str | Path,
    generator: Generator,
    discriminator: Discriminator,
    image_size: int | tuple[int, int],
    **meta,
) -> None:
    """Both networks' weights with what rebuilds them (config, channels, image size) and
    JSON-like `meta`; written atomically."""
    if generator.config != discriminator.config:
        raise ValueError(
            f"generator and discriminator configs differ: {generator.config} vs "
            f"{discriminator.config}"
        )
    if _hw(image_size) != discriminator.image_size:
        raise ValueError(
            f"image_size {_hw(image_size)} differs from the networks' {discriminator.image_size}"
        )
    record = {
        "config": asdict(generator.config),
        "channels": generator.out_channels,
        "image_size": list(_hw(image_size)),
        "meta": meta,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(record, tmp)


def load_gan(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[Generator, Discriminator, dict]:
    """(generator, discriminator, meta) from a file written by `save_gan`, in eval mode on
    device."""
    record = torch.load(path, map_location=device, weights_only=True)
    c = record["config"]
    config = GanConfig(c["latent_dim"], tuple(c["channels"]), c["spectral_norm"], c["batch_norm"])
    size = tuple(record["image_size"])
    generator = Generator(config, record["channels"], size).to(device)
    discriminator = Discriminator(config, record["channels"], size).to(device)
    generator.load_state_dict(record["generator"])
    discriminator.load_state_dict(record["discriminator"])
    return generator.eval(), discriminator.eval(), record["meta"]
