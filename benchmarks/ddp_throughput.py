"""Multi-process UNet training throughput: images per second against the number of processes N,
each a `torchrun` rank training on its slice of one global batch (lib.infra.distributed:
DistributedDataParallel, BatchNorm statistics over the global batch, gloo on CPUs, NCCL on GPUs).

Run: python -m benchmarks.ddp_throughput [--nprocs 1 2] [--steps 20] [--gpu]
Prints, per N, the seconds per global batch and the images per second (median of the timed
steps on rank 0). On a CPU each rank gets cores / N PyTorch threads, so N = 1 is one process
using every core. Not a test. The GPU profile (--gpu: MNIST-sized 32x32, channels [32, 64, 128],
global batch 250) needs one GPU per rank.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

from benchmarks.unet import PROFILES, _sync
from lib.flows.flow_matching import cfm_loss, sample_times
from lib.infra.distributed import data_parallel, process_group, shard, world_from_env
from lib.nets.unet import UNetConfig, build_unet
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule


def worker(steps: int, gpu: bool) -> None:
    """One rank: time `steps` training steps on this rank's shard of each global batch."""
    world = world_from_env()
    if gpu:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // world.size))
    channels, size, batch = PROFILES["gpu" if gpu else "cpu"]
    with process_group(world, device):
        torch.manual_seed(0)
        net = data_parallel(build_unet(UNetConfig(channels=channels), 1, size).to(device), world)
        path = GaussianPath(make_schedule("linear"))
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(0)  # the same global batch on every rank
        z = (torch.rand(batch, 1, size, size, generator=g) * 2 - 1).to(device)
        noise = torch.randn(batch, 1, size, size, generator=g).to(device)
        t = sample_times(batch, generator=g).to(device)
        z, noise, t = (shard(x, world) for x in (z, noise, t))
        seconds = []
        for step in range(steps + 3):  # three warm-up steps
            _sync(device)
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            cfm_loss(net, path, z, noise, t).backward()
            optimizer.step()
            _sync(device)
            if step >= 3:
                seconds.append(time.perf_counter() - start)
        if world.is_main:
            median = statistics.median(seconds)
            print(f"RESULT {world.size} {batch} {median:.5f} {batch / median:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.gpu)
        return
    print(f"{'N':>3}{'global batch':>14}{'s / batch':>11}{'images/s':>10}")
    for n in args.nprocs:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc_per_node={n}", "-m", "benchmarks.ddp_throughput", "--worker"]
        command += ["--steps", str(args.steps)] + (["--gpu"] if args.gpu else [])
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line.split() for line in out.stdout.splitlines() if line.startswith("RESULT")]
        if out.returncode != 0 or not lines:
            raise SystemExit(f"N = {n} failed:\n{out.stdout}\n{out.stderr}")
        _, size, batch, median, rate = lines[0]
        print(f"{size:>3}{batch:>14}{float(median):>11.4f}{float(rate):>10.0f}")


if __name__ == "__main__":
    main()
