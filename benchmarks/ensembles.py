"""Independent small fits trained together: E copies of one MLP as one batched ensemble
(`torch.func.stack_module_state` + `vmap`, one Adam step for all) against E one-by-one training
steps, on the 2D flow-matching networks of flow2d and transport; and the same for ode_fit's 1D
CNF training step (rk4 through the exact divergence, double backward), whose members are stacked
as batched matrix products (`torch.baddbmm`: plain autograd, so the divergence's
`autograd.grad(create_graph=True)` works unchanged on the members' rows side by side).

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
from lib.flows import cnf
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


class GroupedMLP(torch.nn.Module):
    """E tanh MLPs (x, t) -> f (lib.nets.mlp.MLP, n_freq = 0) as batched matrix products: rows
    k*n .. (k+1)*n - 1 of the input go through member k's weights (copied from `members`)."""

    def __init__(self, members: list[MLP]):
        super().__init__()
        linears = [[m for m in member.net if isinstance(m, torch.nn.Linear)] for member in members]
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter(torch.stack([ls[i].weight.detach().mT for ls in linears]))
            for i in range(len(linears[0]))
        )
        self.biases = torch.nn.ParameterList(
            torch.nn.Parameter(torch.stack([ls[i].bias.detach()[None] for ls in linears]))
            for i in range(len(linears[0]))
        )
        self.n_members = len(members)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, torch.as_tensor(t, dtype=x.dtype).expand(len(x), 1)], dim=-1)
        h = h.reshape(self.n_members, -1, h.shape[-1])
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.weights) - 1:
                h = torch.tanh(h)
        return h.reshape(len(x), -1)


def cnf_loss(field, y: torch.Tensor, n_members: int) -> torch.Tensor:
    """Sum over members of -mean log-likelihood (rk4, 10 steps) + 0.002 x mean kinetic energy."""
    x0, delta, kinetic = cnf.integrate_to_base(field, y, 10, "rk4", create_graph=True)
    per_point = -(cnf.standard_normal_log_prob(x0) + delta) + 0.002 * kinetic
    return per_point.reshape(n_members, -1).mean(dim=1).sum()


def compare_cnf(batch: int, n_members: int, repeats: int, gen) -> tuple[float, float, float]:
    """Median seconds of n_members one-by-one CNF steps and of one grouped step; and |grouped
    loss - sum of the one-by-one losses| (same weights, same points, before any step)."""
    torch.manual_seed(0)
    members = [MLP(1, 1, [64, 64], "tanh") for _ in range(n_members)]
    grouped = GroupedMLP(members)
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in members]
    grouped_opt = torch.optim.Adam(grouped.parameters(), lr=1e-3)
    y = torch.randn(n_members, batch, 1, generator=gen)
    one_losses = [cnf_loss(m, y[k], 1).item() for k, m in enumerate(members)]
    diff = abs(cnf_loss(grouped, y.reshape(-1, 1), n_members).item() - sum(one_losses))

    def one_by_one():
        for k, (m, opt) in enumerate(zip(members, optimizers, strict=True)):
            opt.zero_grad(set_to_none=True)
            cnf_loss(m, y[k], 1).backward()
            opt.step()

    def together():
        grouped_opt.zero_grad(set_to_none=True)
        cnf_loss(grouped, y.reshape(-1, 1), n_members).backward()
        grouped_opt.step()

    seconds = medians({"one": one_by_one, "ensemble": together}, repeats)
    return seconds["one"], seconds["ensemble"], diff


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
    print("\node_fit's 1D CNF, MLP 1 -> [64] x 2 -> 1 (tanh), rk4 10 steps, exact divergence")
    print(
        f"{'batch':>6}{'E':>4}{'one by one':>12}{'ensemble':>10}{'speed-up':>10}{'|loss diff|':>13}"
    )
    for batch, n_members in [(256, 2), (256, 4), (256, 8)]:
        a, b, diff = compare_cnf(batch, n_members, args.repeats, gen)
        print(f"{batch:>6}{n_members:>4}{a:>12.4f}{b:>10.4f}{a / b:>9.2f}x{diff:>13.2e}")


if __name__ == "__main__":
    main()
