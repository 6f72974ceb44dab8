"""UNet throughput on the current device (DEVICE env): training and sampling images per second.

Run: python -m benchmarks.unet            (the CPU default: 8x8 digits, channels [32, 64])
     python -m benchmarks.unet --gpu      (the GPU profile: MNIST 32x32, [32, 64, 128], batch 250)
Prints a table; not a test. Training = one flow-matching step (forward, backward, Adam);
sampling = one network evaluation in eval mode without gradients (an Euler step's cost).
"""

from __future__ import annotations

import argparse
import time

import torch

from lib.flows.flow_matching import cfm_loss, sample_times
from lib.infra.device import get_device
from lib.nets.unet import UNetConfig, build_unet, count_parameters
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule

PROFILES = {  # name: (channels, image size, batch) as in params.yaml / SPEC item 6
    "cpu": ((32, 64), 8, 128),
    "gpu": ((32, 64, 128), 32, 250),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _per_call(fn, device: torch.device, repeats: int) -> float:
    """Seconds per call after two warm-up calls."""
    fn()
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="the MNIST 32x32 GPU profile")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    channels, size, batch = PROFILES["gpu" if args.gpu else "cpu"]
    device = get_device()
    torch.manual_seed(0)
    net = build_unet(UNetConfig(channels=channels), 1, size).to(device)
    path = GaussianPath(make_schedule("linear"))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    z = torch.rand(batch, 1, size, size, device=device) * 2 - 1
    noise = torch.randn_like(z)
    t = sample_times(batch, device=device)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        cfm_loss(net, path, z, noise, t).backward()
        optimizer.step()

    def sample_step() -> None:
        with torch.no_grad():
            net(noise, torch.tensor(0.5, device=device))

    net.train()
    train_s = _per_call(train_step, device, args.repeats)
    net.eval()
    sample_s = _per_call(sample_step, device, args.repeats)
    print(f"device: {device}, threads: {torch.get_num_threads()}")
    print(f"UNet channels {list(channels)}, {size}x{size}x1, {count_parameters(net)} parameters")
    print(f"{'':<10}{'batch':>8}{'s / batch':>12}{'images/s':>12}")
    print(f"{'train':<10}{batch:>8}{train_s:>12.4f}{batch / train_s:>12.0f}")
    print(f"{'sample':<10}{batch:>8}{sample_s:>12.4f}{batch / sample_s:>12.0f}")


if __name__ == "__main__":
    main()
