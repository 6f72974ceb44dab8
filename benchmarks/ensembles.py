"""Independent small fits trained together: E copies of one MLP as one batched ensemble
(`torch.func.stack_module_state` + `vmap`, one Adam step for all) against E one-by-one training
steps, on the 2D flow-matching networks of flow2d and transport; the same for ode_fit's 1D CNF
training step (rk4 through the exact divergence, double backward), whose members are stacked as
batched matrix products (`lib.nets.stacked_mlp.StackedMLP`: plain autograd, so the divergence's
`autograd.grad(create_graph=True)` works unchanged on the members' rows side by side); and
ode_fit's whole fit of one dataset's seeds, `cnf.fit` one by one against
`cnf_ensemble.fit_together` (validation included), on the pipeline's data and params.

Run: python -m benchmarks.ensembles [--repeats 20] [--threads 1] [--fit-repeats 3]
Prints, per batch size and ensemble size E, the median seconds of E one-by-one steps and of one
ensemble step (forward, backward, Adam), and the speed-up; then the whole fits. The pipeline's
fits run one per worker process on one thread each, so --threads 1 is the comparison that
matters. Needs `dvc repro data` (the toy data) for the last part. Not a test.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from benchmarks.interleaved import medians
from lib.data.toy import load_splits
from lib.flows import cnf
from lib.flows.cnf_ensemble import fit_together
from lib.infra import layout
from lib.nets.mlp import MLP
from lib.nets.stacked_mlp import StackedMLP
from lib.params import load_params


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
    grouped = StackedMLP(members)
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


def compare_fits(n_iters: int, repeats: int) -> tuple[float, float, float]:
    """Median seconds of ode_fit's main network fitted on laplace_mixture for each seed one by one
    (`cnf.fit`) and together (`fit_together`), n_iters iterations with validation every
    n_iters / 2; and the largest |difference| of the members' final validation values."""
    p = load_params("ode_fit")
    t, net = p.train, p.networks[p.main_network]
    data = load_splits(layout.toy_data(1, "laplace_mixture"), "cpu")
    kw = dict(
        n_iters=n_iters, batch_size=t.batch_size, lr=t.lr, n_steps=t.n_steps, method=t.method,
        eval_every=n_iters // 2, eval_n_steps=t.val_n_steps, eval_method="rk4",
        kinetic_weight=t.kinetic_weight, progress=False,
    )  # fmt: skip

    def fields():
        out = []
        for seed in p.seeds:
            torch.manual_seed(seed)
            mlp = MLP(1, 1, net.hidden, net.activation, net.n_freq)
            out.append(cnf.StandardizedField.from_data(mlp, data.train) if net.standardize else mlp)
        return out

    results = {}

    def one_by_one():
        results["one"] = [
            cnf.fit(f, data.train, data.val, generator=torch.Generator().manual_seed(s), **kw)
            for f, s in zip(fields(), p.seeds, strict=True)
        ]

    def together():
        gens = [torch.Generator().manual_seed(s) for s in p.seeds]
        results["together"] = fit_together(fields(), data.train, data.val, generators=gens, **kw)

    seconds = medians({"one": one_by_one, "together": together}, repeats)
    diff = max(
        abs(a.val_values[-1] - b.val_values[-1])
        for a, b in zip(results["one"], results["together"], strict=True)
    )
    return seconds["one"], seconds["together"], diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fit-repeats", type=int, default=3)
    parser.add_argument("--fit-iters", type=int, default=200)
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

    p = load_params("ode_fit")
    print(
        f"\node_fit's fit of laplace_mixture's {len(p.seeds)} seeds ({p.main_network}), "
        f"{args.fit_iters} iterations, validation included"
    )
    a, b, diff = compare_fits(args.fit_iters, args.fit_repeats)
    print(f"{'one by one':>12}{'together':>10}{'speed-up':>10}{'|val diff|':>12}")
    print(f"{a:>12.2f}{b:>10.2f}{a / b:>9.2f}x{diff:>12.2e}")


if __name__ == "__main__":
    main()
