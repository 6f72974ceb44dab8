"""The image UNet on a CPU: which of PyTorch's CPU options pay off for the default 8x8 digits
model (channels [32, 64], batch 128 to train, 600 images per sampling call).

Run: python -m benchmarks.unet_cpu [--repeats 20] [--threads 1]
Prints the median seconds of one flow-matching training step (forward, backward, Adam) and of
one network evaluation for sampling, per option, with the speed-up over eager PyTorch:
eager; channels-last memory format; `torch.inference_mode` instead of `no_grad` (sampling);
`torch.compile` (its one-off compile time printed apart). Options are timed in turn, round
after round. BatchNorm folding is not among them: in this UNet BatchNorm sits between a SiLU
and a zero-padded convolution, so it cannot be folded into a neighbour exactly (the padding
would see the shift). Not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.interleaved import medians, print_against
from lib.flows.flow_matching import cfm_loss, sample_times
from lib.nets.unet import UNetConfig, build_unet
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule


def training_step(net, optimizer, path, x1, gen, memory_format):
    x1 = x1.contiguous(memory_format=memory_format)
    noise = torch.randn(x1.shape, generator=gen).contiguous(memory_format=memory_format)
    t = sample_times(len(x1), generator=gen)
    loss = cfm_loss(net, path, x1, noise, t)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="the stages run one per worker")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    path = GaussianPath(make_schedule("linear"))
    gen = torch.Generator().manual_seed(0)
    x1 = torch.rand(128, 1, 8, 8, generator=gen) * 2 - 1
    xs = torch.randn(600, 1, 8, 8, generator=gen)
    t = torch.tensor(0.5)

    def fresh(memory_format=torch.contiguous_format):
        torch.manual_seed(0)
        net = build_unet(UNetConfig((32, 64)), 1, 8).to(memory_format=memory_format)
        return net, torch.optim.Adam(net.parameters(), lr=1e-3)

    options = {"eager": fresh(), "channels_last": fresh(torch.channels_last)}
    compile_seconds = {}
    if not args.no_compile:
        net, opt = fresh()
        start = time.perf_counter()
        compiled = torch.compile(net)
        training_step(compiled, opt, path, x1, gen, torch.contiguous_format)
        compiled.eval()
        with torch.no_grad():
            compiled(xs, t)
        compiled.train()
        compile_seconds["compile"] = time.perf_counter() - start
        options["compile"] = (compiled, opt)

    def train_once(name):
        net, opt = options[name]
        fmt = torch.channels_last if name == "channels_last" else torch.contiguous_format
        training_step(net, opt, path, x1, gen, fmt)

    def sample_once(name, mode=torch.no_grad):
        net, _ = options[name]
        fmt = torch.channels_last if name == "channels_last" else torch.contiguous_format
        net.eval()
        with mode():
            net(xs.contiguous(memory_format=fmt), t)
        net.train()

    sample_runs = {name: (lambda n=name: sample_once(n)) for name in options}
    sample_runs["inference_mode"] = lambda: sample_once("eager", torch.inference_mode)
    print(f"threads: {torch.get_num_threads()}, repeats: {args.repeats} (median seconds)")
    for s in compile_seconds.values():
        print(f"torch.compile: {s:.1f} s to compile the training step and the sampling call")
    for label, runs in [
        ("training step, batch 128", {n: (lambda n=n: train_once(n)) for n in options}),
        ("sampling call, 600 images", sample_runs),
    ]:
        print_against(label, medians(runs, args.repeats), "eager")


if __name__ == "__main__":
    main()
