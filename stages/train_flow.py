"""Stage train_flow: a UNet velocity field on images, trained by conditional flow matching."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from lib import flow_matching, plots
from lib.image_data import load_image_npz
from lib.likelihood import dequantize
from lib.paths import GaussianPath, make_schedule
from lib.stage import run_stage, save_fit, seeded_generator
from lib.unet import UNetConfig, build_unet, count_parameters

MODELS = Path("models") / "train_flow"
CHECKPOINT = Path("checkpoints") / "train_flow.pt"  # outside the stage's outs: survives a kill


def corruption(p, path, images, n_levels, device, out) -> None:
    """A few training images corrupted along the path at the chosen times."""
    gen = seeded_generator(p.seed, device)
    z = dequantize(images[: p.corruption.n_images], n_levels, gen)
    eps = torch.randn(z.shape, generator=gen, device=device)
    rows = torch.stack([path.sample(z, t, eps).x_t for t in p.corruption.times], dim=1)
    plots.image_corruption(
        rows.cpu().numpy(), p.corruption.times, out / "figures" / "corruption.png"
    )


def main(p, device, out):
    name, data = load_image_npz(Path("data") / "images")
    images = torch.as_tensor(data.train.images, device=device)  # uint8 (N, C, H, W)
    k = data.n_levels
    path = GaussianPath(make_schedule(p.schedule))
    corruption(p, path, images, k, device, out)

    config = UNetConfig(**p.unet.model_dump())
    torch.manual_seed(p.seed)
    net = build_unet(config, images.shape[1], tuple(images.shape[2:])).to(device)
    result = flow_matching.fit(
        net,
        path,
        images,
        n_iters=p.n_iters,
        batch_size=p.batch_size,
        lr=p.lr,
        generator=seeded_generator(p.seed, device),
        lr_schedule=p.lr_schedule,
        ema_decay=p.ema_decay,
        preprocess=lambda z, g: dequantize(z, k, g),  # fresh dequantization noise per batch
        checkpoint=CHECKPOINT,
        checkpoint_every=p.checkpoint_every,
    )
    net.eval()
    save_fit(out, MODELS / "unet.pt", net, result.train_loss, [], "", [])
    tail = result.train_loss[-min(100, len(result.train_loss)) :]
    return {
        "dataset": name,
        "model": {
            **asdict(config),
            "in_channels": images.shape[1],
            "image_size": list(images.shape[2:]),
        },
        "n_parameters": count_parameters(net),
        "final_loss": sum(tail) / len(tail),
        "train_seconds": result.seconds,
        "images_per_second": p.n_iters * min(p.batch_size, len(images)) / result.seconds,
        "resumed_from": result.resumed_from,
    }


if __name__ == "__main__":
    run_stage("train_flow", main)
