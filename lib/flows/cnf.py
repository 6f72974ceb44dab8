"""Continuous normalizing flow (CNF): exact log-likelihood by the instantaneous change of variables.

Base N(0, I) at t = 0 (or the base a `StandardizedField` carries), data at t = 1,
dx/dt = f(x, t). Along a trajectory d log p_t(x_t) / dt = -div f(x_t, t), hence

    log p_1(y) = log p_0(x_0) - int_0^1 div f(x_t, t) dt,    x_1 = y.

`log_prob` solves the augmented state [x, l] with dl/dt = div f backwards from [y, 0] at t = 1:
then l(0) = -int_0^1 div f dt, and both parts share one solver and one time grid. A third
coordinate accumulates the kinetic energy int_0^1 |f / s|^2 dt (s the base's std), an optional
training regulariser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from lib.data.densities import Gaussian
from lib.sde.solvers import Field, odeint, time_grid
from lib.training.loop import LrSchedule, TrainResult
from lib.training.loop import train as train_loop


def divergence(
    f: Field, x: torch.Tensor, t: torch.Tensor, create_graph: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(x, t), div_x f(x, t) = sum_i df_i/dx_i): x (n, d) -> (n, d), (n,).

    Exact, one backward pass per dimension (cheap for d = 1, 2). create_graph=True keeps the graph
    through both outputs (training); False returns them detached (evaluation).
    """
    with torch.enable_grad():
        # A fresh leaf when x carries no graph we must keep (data points, or evaluation).
        if not (create_graph and x.requires_grad):
            x = x.detach().requires_grad_(True)
        out = f(x, t)
        flat = out.reshape(len(x), -1)
        div = torch.zeros(len(x), dtype=out.dtype, device=out.device)
        for i in range(flat.shape[1]):
            (grad,) = torch.autograd.grad(
                flat[:, i].sum(), x, create_graph=create_graph, retain_graph=True
            )
            div = div + grad.reshape(len(x), -1)[:, i]
    if create_graph:
        return out, div
    return out.detach(), div.detach()


DivergenceFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (f, x, t, create_graph)


def standard_normal_log_prob(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, I) summed over the last dim: (n, d) -> (n,)."""
    return -0.5 * (x**2).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)


class StandardizedField(nn.Module):
    """A CNF in standardized coordinates u = (x - shift) / scale, written in data coordinates.

    f(x, t) = scale * net((x - shift) / scale, t) from the base N(shift, diag(scale^2)): then
    x_t = shift + scale * u_t with u_t the flow of `net` from N(0, I), i.e. a fixed affine
    bijection after a standard CNF, so the network sees inputs of order one whatever the
    data's location and spread. shift and scale are the training data's moments (buffers, saved
    with the weights); log-likelihoods stay exact, the affine map's log-det included.
    """

    def __init__(self, net: nn.Module, shift: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32).reshape(-1))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).reshape(-1))

    @classmethod
    def from_data(cls, net: nn.Module, data: torch.Tensor) -> StandardizedField:
        """shift, scale = the mean and standard deviation of data (n, d) per coordinate."""
        return cls(net, data.mean(0), data.std(0)).to(data.device)

    @property
    def base(self) -> Gaussian:
        return Gaussian(self.shift, self.scale)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.scale * self.net((x - self.shift) / self.scale, t)


def base_of(field: Field, dim: int, like: torch.Tensor) -> Gaussian:
    """The base distribution at t = 0: the field's own (`StandardizedField`) or N(0, I)."""
    base = getattr(field, "base", None)
    if base is not None:
        return base
    return Gaussian(like.new_zeros(dim), like.new_ones(dim))


def integrate_to_base(
    field: Field,
    y: torch.Tensor,
    n_steps: int,
    method: str = "rk4",
    create_graph: bool = False,
    divergence_fn: DivergenceFn = divergence,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Solve [x, l, k]' = [f, div f, -|f|^2] from [y, 0, 0] at t = 1 back to t = 0.

    Returns x_0 (n, d), l(0) = -int_0^1 div f(x_t, t) dt (n,), the log-density change, and
    k(0) = int_0^1 |f(x_t, t) / s|^2 dt (n,), the kinetic energy of the path in units of the
    base's standard deviation s (a regulariser whose weight does not depend on the data's scale).
    divergence_fn has the signature of `divergence` (e.g. a Hutchinson estimator, lib.likelihood).
    """
    inv_var = 1.0 / base_of(field, y.shape[-1], y).std ** 2  # (d,)

    def augmented(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # z = [x, l, k]: (n, d + 2)
        f, div = divergence_fn(field, z[:, :-2], t, create_graph)
        kinetic = (f**2 * inv_var).sum(-1)  # minus sign below: the backward solve returns +int
        return torch.cat([f, div[:, None], -kinetic[:, None]], dim=-1)

    z1 = torch.cat([y, y.new_zeros(len(y), 2)], dim=-1)
    grid = time_grid(1.0, 0.0, n_steps, device=y.device, dtype=y.dtype)
    with torch.set_grad_enabled(create_graph):
        z0 = odeint(augmented, z1, grid, method)
    return z0[:, :-2], z0[:, -2], z0[:, -1]


def log_prob(
    field: Field,
    y: torch.Tensor,
    n_steps: int,
    method: str = "rk4",
    create_graph: bool = False,
    divergence_fn: DivergenceFn = divergence,
) -> torch.Tensor:
    """log p_1(y) = log p_0(x_0) - int_0^1 div f(x_t, t) dt: y (n, d) -> (n,).

    create_graph=True: differentiable w.r.t. the field's parameters (maximum likelihood);
    False: no graph is kept (evaluation).
    """
    x0, delta, _ = integrate_to_base(field, y, n_steps, method, create_graph, divergence_fn)
    return base_of(field, y.shape[-1], y).log_prob(x0) + delta


def sample(
    field: Field,
    n: int,
    dim: int,
    n_steps: int,
    method: str = "rk4",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    return_path: bool = False,
) -> torch.Tensor:
    """x_0 ~ base pushed forwards to t = 1: (n, dim), or the path (n_steps + 1, n, dim).

    The noise is drawn on the generator's device, so a seed gives the same draws on any device.
    """
    noise_device = generator.device if generator is not None else device
    eps = torch.randn(n, dim, generator=generator, device=noise_device, dtype=dtype).to(device)
    base = base_of(field, dim, eps)
    x0 = base.mean + base.std * eps
    with torch.no_grad():
        return odeint(field, x0, time_grid(0.0, 1.0, n_steps, device, dtype), method, return_path)


def fit(
    field: nn.Module,
    train: torch.Tensor,
    val: torch.Tensor,
    *,
    n_iters: int,
    batch_size: int,
    lr: float,
    n_steps: int,
    method: str = "rk4",
    eval_every: int = 100,
    eval_n_steps: int | None = None,
    eval_method: str | None = None,
    lr_schedule: LrSchedule = "cosine",
    kinetic_weight: float = 0.0,
    validate_start: bool = False,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> TrainResult:
    """Maximum likelihood with `lib.training.train`: minimise -mean log p_1(y) over mini-batches.
    Returns its result with train_loss the batches' -mean log-likelihood (without the kinetic
    term) and val_values the mean validation log-likelihood.

    The validation log-likelihood (solver eval_method / eval_n_steps, default the training ones)
    is measured every eval_every iterations and at the end; the best parameters are loaded back
    into `field` (early stopping by selection). Batches are drawn without replacement from
    `generator` (CPU); batch_size >= len(train) means full batch. kinetic_weight > 0 adds
    lambda E int_0^1 |f / s|^2 dt (s the base's std): it favours straight paths, which a coarse
    training grid integrates well, so the flow cannot exploit the solver's error; keep lambda
    small (~1e-3), as it also pulls the density towards the base. validate_start: the starting
    weights are a candidate too (fine-tuning a pretrained field never ends worse on validation).
    """
    eval_n_steps = eval_n_steps or n_steps
    eval_method = eval_method or method
    base = base_of(field, train.shape[-1], train)
    nll_history: list[float] = []

    def loss(it: int) -> torch.Tensor:
        idx = torch.randperm(len(train), generator=generator)[:batch_size].to(train.device)
        x0, delta, kinetic = integrate_to_base(field, train[idx], n_steps, method, True)
        nll = -(base.log_prob(x0) + delta).mean()
        nll_history.append(nll.item())
        return nll + kinetic_weight * kinetic.mean()

    result = train_loop(
        field,
        loss,
        n_iters=n_iters,
        lr=lr,
        lr_schedule=lr_schedule,
        validate=lambda f: log_prob(f, val, eval_n_steps, eval_method).mean().item(),
        eval_every=eval_every,
        validate_start=validate_start,
        progress=progress,
        desc="cnf fit",
    )
    return replace(result, train_loss=nll_history)


def objective_sd(
    field: Field,
    data: torch.Tensor,
    batch_size: int,
    n_batches: int,
    n_steps: int,
    method: str = "rk4",
    generator: torch.Generator | None = None,
) -> float:
    """Standard deviation of the training objective (-mean log-likelihood of a random batch) at
    fixed parameters, over n_batches batches: only the batch sampling varies."""
    losses = []
    for _ in range(n_batches):
        idx = torch.randperm(len(data), generator=generator)[:batch_size].to(data.device)
        losses.append(-log_prob(field, data[idx], n_steps, method).mean().item())
    return float(torch.tensor(losses, dtype=torch.float64).std())


def integrator_convergence(
    field: Field, y: torch.Tensor, methods: list[str], n_steps: list[int], tight_n_steps: int
) -> dict:
    """|mean log p(y) with (method, T) - the same with rk4 at tight_n_steps| for each T.

    Returns {"n_steps", "errors": {method: [...]}, "reference": tight mean log-likelihood,
    "log_likelihood": {method: [mean log p(y) at each T]}}.
    """
    reference = log_prob(field, y, tight_n_steps, "rk4").double().mean().item()
    means = {m: [log_prob(field, y, T, m).double().mean().item() for T in n_steps] for m in methods}
    errors = {m: [abs(v - reference) for v in means[m]] for m in methods}
    return {
        "n_steps": list(n_steps),
        "errors": errors,
        "reference": reference,
        "log_likelihood": means,
    }
