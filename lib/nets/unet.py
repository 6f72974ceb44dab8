"""UNet on (x, t) for images: the velocity (or noise) network of the image flow and score models.

Layout, for channels [c_0, ..., c_{L-1}] (one per resolution level):

    initial conv (in_channels -> c_0, 3x3)
    encoder i < L-1:  n_res residual layers at c_i -> keep as skip_i -> stride-2 conv c_i -> c_{i+1}
    bottleneck:       n_bottleneck residual layers at c_{L-1}
    decoder i < L-1:  nearest x2 upsampling + 3x3 conv c_{i+1} -> c_i -> concatenate skip_i
                      (2 c_i channels) -> n_res residual layers (the first maps 2 c_i -> c_i)
    final conv (c_0 -> in_channels, 3x3)

Residual layer: h = block_1(x) + mlp(emb)[:, :, None, None]; out = block_2(h) + skip(x), where a
block is SiLU -> BatchNorm -> 3x3 conv and skip is the identity, or a 1x1 conv when the channels
change. The time embedding emb = MLP(Fourier features of t) is shared; each layer has its own
small MLP mapping it to that layer's channels, added as a per-channel bias broadcast over H, W.

Sizes: the L - 1 halvings need H and W divisible by 2^(L-1): 8x8 (digits) allows up to 4 levels,
28x28 (raw MNIST) up to 3 (pad it to 32x32 for more), 32x32 up to 6. Other sizes raise a
ValueError, at construction when image_size is given, else at the forward call.

BatchNorm: in train mode the output of one image depends on the rest of its batch (batch
statistics). Sampling, likelihoods and any evaluation must call `model.eval()` first, so that
the running statistics are used; `lib.training.train` switches to eval mode for validation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from lib.infra.io import atomic_path
from lib.nets.mlp import FourierTime


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of a `UNet`; channels has one entry per resolution level (L levels, L - 1 halvings).

    time_dim: width of the time embedding; the Fourier features are t and the sine and cosine of
    time_dim / 2 frequencies (time_dim + 1 numbers), so time_dim must be even.
    """

    channels: tuple[int, ...] = (32, 64)
    n_res_per_level: int = 2
    n_bottleneck: int = 3
    time_dim: int = 40

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))  # a list from params is fine
        if not self.channels or not all(isinstance(c, int) and c >= 1 for c in self.channels):
            raise ValueError(
                "unet channels must be a non-empty list of positive ints, "
                f"got {list(self.channels)}"
            )
        if self.n_res_per_level < 1:
            raise ValueError(f"unet n_res_per_level must be >= 1, got {self.n_res_per_level}")
        if self.n_bottleneck < 0:
            raise ValueError(f"unet n_bottleneck must be >= 0, got {self.n_bottleneck}")
        if self.time_dim < 2 or self.time_dim % 2:
            raise ValueError(f"unet time_dim must be an even int >= 2, got {self.time_dim}")


class ResidualLayer(nn.Module):
    """out = block_2(block_1(x) + mlp(emb)) + skip(x); x (n, c_in, H, W), emb (n, time_dim)."""

    def __init__(self, c_in: int, c_out: int, time_dim: int):
        super().__init__()
        self.block_1 = _block(c_in, c_out)
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim, time_dim), nn.SiLU(), nn.Linear(time_dim, c_out)
        )
        self.block_2 = _block(c_out, c_out)
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.block_1(x) + self.time_mlp(emb)[:, :, None, None]  # broadcast over H, W
        return self.block_2(h) + self.skip(x)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.SiLU(), nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, padding=1))


def _residual_stack(c_in: int, c_out: int, n: int, time_dim: int) -> nn.ModuleList:
    """n residual layers, the first mapping c_in -> c_out, the others c_out -> c_out."""
    return nn.ModuleList(
        ResidualLayer(c_in if k == 0 else c_out, c_out, time_dim) for k in range(n)
    )


class UNet(nn.Module):
    """v(x, t): images x (n, C, H, W) and times t -> (n, C, H, W), with the MLPs' signature.

    t may be a 0-dim tensor (one time for the whole batch, as the solvers pass it) or (n,) /
    (n, 1). image_size (int or (H, W)), when given, is checked against the halvings here;
    otherwise each forward call checks its input. Call `.eval()` before sampling (BatchNorm).
    """

    def __init__(
        self,
        in_channels: int,
        channels: list[int] | tuple[int, ...],
        n_res_per_level: int = 2,
        n_bottleneck: int = 3,
        time_dim: int = 40,
        image_size: int | tuple[int, int] | None = None,
    ):
        super().__init__()
        config = UNetConfig(tuple(channels), n_res_per_level, n_bottleneck, time_dim)
        if in_channels < 1:
            raise ValueError(f"unet in_channels must be >= 1, got {in_channels}")
        self.config, self.in_channels = config, in_channels
        ch = config.channels
        self.factor = 2 ** (len(ch) - 1)  # H and W must be multiples of this
        if image_size is not None:
            h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
            self._check_size(h, w)

        fourier = FourierTime(time_dim // 2)
        self.time_embed = nn.Sequential(
            fourier, nn.Linear(fourier.dim, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        self.initial = nn.Conv2d(in_channels, ch[0], 3, padding=1)
        self.encoders = nn.ModuleList(
            _residual_stack(c, c, n_res_per_level, time_dim) for c in ch[:-1]
        )
        self.downs = nn.ModuleList(
            nn.Conv2d(c, c_next, 3, stride=2, padding=1) for c, c_next in zip(ch[:-1], ch[1:])
        )
        self.bottleneck = _residual_stack(ch[-1], ch[-1], n_bottleneck, time_dim)
        # Upsampling convs and decoders are stored fine-to-coarse (index i = level i) and run
        # coarse-to-fine; the first decoder layer takes the concatenation [upsampled, skip_i].
        self.ups = nn.ModuleList(
            nn.Conv2d(c_next, c, 3, padding=1) for c, c_next in zip(ch[:-1], ch[1:])
        )
        self.decoders = nn.ModuleList(
            _residual_stack(2 * c, c, n_res_per_level, time_dim) for c in ch[:-1]
        )
        self.final = nn.Conv2d(ch[0], in_channels, 3, padding=1)
        # NHWC convolution weights: oneDNN's CPU kernels run faster on them (benchmarks/
        # unet_cpu.py), and activations follow the weights' layout; the maths is unchanged
        self.to(memory_format=torch.channels_last)

    def _check_size(self, h: int, w: int) -> None:
        if h % self.factor or w % self.factor:
            n_levels = len(self.config.channels)
            raise ValueError(
                f"unet with {n_levels} levels (channels {list(self.config.channels)}) halves the "
                f"image {n_levels - 1} times, so H and W must be multiples of {self.factor}; got "
                f"{h}x{w}: pad the images or use fewer levels"
            )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"unet expects x of shape (n, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        self._check_size(x.shape[2], x.shape[3])
        n = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.numel() == 1:
            t = t.reshape(1).expand(n)
        elif t.numel() != n:
            raise ValueError(f"t has {t.numel()} entries but x has batch size {n}")
        emb = self.time_embed(t.reshape(n, 1))  # (n, time_dim)

        h = self.initial(x)
        skips = []
        for layers, down in zip(self.encoders, self.downs):
            for layer in layers:
                h = layer(h, emb)
            skips.append(h)
            h = down(h)
        for layer in self.bottleneck:
            h = layer(h, emb)
        for layers, up, skip in zip(
            reversed(self.decoders), reversed(self.ups), reversed(skips), strict=True
        ):
            h = up(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = torch.cat([h, skip], dim=1)
            for layer in layers:
                h = layer(h, emb)
        return self.final(h)


def build_unet(
    config: UNetConfig, in_channels: int, image_size: int | tuple[int, int] | None = None
) -> UNet:
    """The UNet of `config` for images with in_channels channels (checked against image_size)."""
    return UNet(
        in_channels,
        config.channels,
        config.n_res_per_level,
        config.n_bottleneck,
        config.time_dim,
        image_size,
    )


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def save_unet(path: str | Path, model: UNet, image_size: tuple[int, int], **meta) -> None:
    """Weights with what rebuilds them (config, in_channels, image size) and JSON-like `meta`
    (e.g. the schedule and what the network predicts); written atomically."""
    record = {
        "config": asdict(model.config),
        "in_channels": model.in_channels,
        "image_size": [int(s) for s in image_size],
        "meta": meta,
        "state_dict": model.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(record, tmp)


def load_unet(path: str | Path, device: torch.device | str = "cpu") -> tuple[UNet, dict]:
    """(model in eval mode on device, meta) from a file written by `save_unet`."""
    record = torch.load(path, map_location=device, weights_only=True)
    c = record["config"]
    config = UNetConfig(
        tuple(c["channels"]), c["n_res_per_level"], c["n_bottleneck"], c["time_dim"]
    )
    model = build_unet(config, record["in_channels"], tuple(record["image_size"])).to(device)
    model.load_state_dict(record["state_dict"])
    return model.eval(), record["meta"]
