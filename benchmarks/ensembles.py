"""Independent small fits trained together: E copies of one MLP as one batched ensemble
(`torch.func.stack_module_state` + `vmap`, one Adam step for all) against E one-by-one training
steps, on the 2D flow-matching networks of flow2d and transport.

Run: python -m benchmarks.ensembles [--repeats 20] [--threads 1]
Prints, per batch size and ensemble size E, the median seconds of E one-by-one steps and of one
ensemble step (forward, backward, Adam), and the speed-up. The pipeline's fits run one per
worker process on one thread each, so --threads 1 is the comparison that matters. Not a test.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from benchmarks.interleaved import medians
from lib.nets.mlp import MLP


def fm_loss(v: torch.Tensor, z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """|v - (z - noise)|^2 averaged over the batch: the linear path's flow-matching loss."""
    return ((v - (z - noise)) ** 2).sum(-1).mean()


def compare(batch: int, n_members: int, repeats: int, gen: torch.Generator) -> tuple[float, float]:
    """Median seconds of n_members one-by-one steps and of one ensemble step."""
    torch.manual_seed(0)
    members = [MLP(2, 2, [64] * 4, "silu") for _ in range(n_members)]
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in members]
    params, buffers = stack_module_state([copy.deepcopy(m) for m in members])
    params = {k: p.detach().requires_grad_(True) for k, p in params.items()}
    ensemble_opt = torch.optim.Adam(params.values(), lr=1e-3)
    base = copy.deepcopy(members[0]).to("meta")
    z = torch.randn(n_members, batch, 2, generator=gen)
    noise = torch.randn(n_members, batch, 2, generator=gen)
    t = torch.rand(n_members, batch, generator=gen)

    def one(p, b, x, tt):
        return functional_call(base, (p, b), (x, tt))

    def one_by_one():
        for k, (m, opt) in enumerate(zip(members, optimizers)):
            opt.zero_grad(set_to_none=True)
            x = (1 - t[k, :, None]) * noise[k] + t[k, :, None] * z[k]
            fm_loss(m(x, t[k]), z[k], noise[k]).backward()
            opt.step()

    def together():
        ensemble_opt.zero_grad(set_to_none=True)
        x = (1 - t[..., None]) * noise + t[..., None] * z
        v = vmap(one)(params, buffers, x, t)
        # the sum of the members' losses: each member's gradient is its own loss's
        sum(fm_loss(v[k], z[k], noise[k]) for k in range(n_members)).backward()
        ensemble_opt.step()

    seconds = medians({"one": one_by_one, "ensemble": together}, repeats)
    return seconds["one"], seconds["ensemble"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    print(f"threads: {torch.get_num_threads()}, MLP 2 -> [64] x 4 -> 2 (silu), median seconds")
    print(f"{'batch':>6}{'E':>4}{'one by one':>12}{'ensemble':>10}{'speed-up':>10}")
    for batch, n_members in [(256, 4), (1000, 3), (2000, 3), (2000, 7)]:
        a, b = compare(batch, n_members, args.repeats, gen)
        print(f"{batch:>6}{n_members:>4}{a:>12.4f}{b:>10.4f}{a / b:>9.2f}x")


if __name__ == "__main__":
    main()
