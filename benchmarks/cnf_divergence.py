"""The 1D CNF's divergence: reverse mode (lib's `cnf.divergence`, a second backward pass)
against forward mode (torch.func.jvp, torch.autograd.forward_ad dual numbers, and a tangent
carried by hand through the MLP), on ode_fit's default network and training step.

Run: python -m benchmarks.cnf_divergence [--threads 1] [--repeats 30]
Prints, per method, the median seconds of one training step (batch 256, rk4 with 10 steps,
forward and backward, as `cnf.fit` takes it) and of one validation pass (10 000 points, rk4
with 20 steps, no graph), with the ratio to reverse mode; the methods are timed in turn, round
after round, so a drift of the machine's speed hits them alike. Checks first that every method
gives the same divergence. Not a test.
"""

from __future__ import annotations

import argparse

import torch
import torch.autograd.forward_ad as fwad
from torch import nn
from torch.func import jvp

from benchmarks.interleaved import medians, print_against
from lib.flows import cnf
from lib.nets.mlp import MLP


def jvp_divergence(f, x, t, create_graph=False):
    """df/dx for d = 1 by torch.func.jvp with the tangent 1."""
    with torch.set_grad_enabled(create_graph):
        out, tangent = jvp(lambda z: f(z, t), (x,), (torch.ones_like(x),))
    return out, tangent[:, 0]


def dual_divergence(f, x, t, create_graph=False):
    """df/dx for d = 1 by forward-mode dual numbers."""
    with torch.set_grad_enabled(create_graph), fwad.dual_level():
        out, tangent = fwad.unpack_dual(f(fwad.make_dual(x, torch.ones_like(x)), t))
    return out, tangent[:, 0]


def hand_divergence(f, x, t, create_graph=False):
    """df/dx for d = 1, a tanh MLP (inside a StandardizedField or bare): the tangent
    dh = W dh_prev, (1 - tanh^2) dh carried beside each layer's value."""
    net, scale, shift = f, None, None
    if isinstance(f, cnf.StandardizedField):
        net, scale, shift = f.net, f.scale, f.shift
        x = (x - shift) / scale  # div f(x) = div net(u) for a per-coordinate affine map
    with torch.set_grad_enabled(create_graph):
        t = torch.as_tensor(t, dtype=x.dtype).expand(len(x)).reshape(-1, 1)
        first, *rest = net.net
        h = first(torch.cat([x, t], -1))
        dh = first.weight[:, 0].expand_as(h)
        for layer in rest:
            if isinstance(layer, nn.Linear):
                h, dh = layer(h), dh @ layer.weight.T
            else:  # tanh
                h = torch.tanh(h)
                dh = (1 - h * h) * dh
    out = h if scale is None else scale * h
    return out, dh[:, 0]


METHODS = {
    "reverse (lib)": cnf.divergence,
    "torch.func.jvp": jvp_divergence,
    "forward_ad dual": dual_divergence,
    "tangent by hand": hand_divergence,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="ode_fit runs one per worker")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(1000, 1, generator=gen) * 2 + 1
    torch.manual_seed(0)
    field = cnf.StandardizedField.from_data(MLP(1, 1, [64, 64], "tanh"), train)
    batch, val = train[:256], torch.randn(10_000, 1, generator=gen)

    t = torch.tensor(0.3)
    _, reference = cnf.divergence(field, batch, t)
    for name, fn in METHODS.items():
        _, div = fn(field, batch, t)
        assert torch.allclose(div, reference, atol=1e-5), f"{name} disagrees with reverse mode"

    def step(fn):
        field.zero_grad()
        x0, delta, kinetic = cnf.integrate_to_base(field, batch, 10, "rk4", True, fn)
        (-(field.base.log_prob(x0) + delta).mean() + 2e-3 * kinetic.mean()).backward()

    def validation(fn):
        cnf.log_prob(field, val, 20, "rk4", divergence_fn=fn)

    print(f"threads: {torch.get_num_threads()}, repeats: {args.repeats} (median seconds)")
    for label, work, repeats in [
        ("training step", step, args.repeats),
        ("validation", validation, max(3, args.repeats // 10)),
    ]:
        runs = {name: (lambda fn=fn, work=work: work(fn)) for name, fn in METHODS.items()}
        print_against(label, medians(runs, repeats), "reverse (lib)")


if __name__ == "__main__":
    main()
