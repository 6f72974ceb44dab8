"""Discriminator-driven latent sampling (DDLS; Che et al. 2020): a GAN read as an energy model.

With a generator G: z -> x, the prior p_0(z) = N(0, I) and the discriminator's logit d(x)
(D = sigmoid(d)), the latent density p_t(z) ∝ p_0(z) exp(d(G(z))) has the energy
E(z) = |z|^2 / 2 - d(G(z)) (+ const). Langevin dynamics z <- z - (eps / 2) grad E(z) + sqrt(eps) n
is `lib.sde.langevin.langevin_step` with score -grad E and step h = eps / 2 (ULA); MALA adds a
Metropolis–Hastings test that makes p ∝ exp(-E) exactly invariant. `ddls` takes any energy
E: (n, ...) -> (n,) whose rows are independent (networks in eval mode), so it is testable on a
closed-form energy; the GAN passes `lambda z: latent_energy(G, d, z)`.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lib.sde.langevin import langevin_step

EnergyFn = Callable[[torch.Tensor], torch.Tensor]  # z (n, ...) -> E(z) (n,)


def latent_energy(
    generator_fn: Callable[[torch.Tensor], torch.Tensor],
    logit_fn: Callable[[torch.Tensor], torch.Tensor],
    z: torch.Tensor,
) -> torch.Tensor:
    """E(z) = |z|^2 / 2 - d(G(z)), (n,), for z (n, latent_dim): -log p_0(z) - d(G(z)) up to a
    constant. logit_fn maps G's output (n, ...) to d of shape (n,) or (n, 1)."""
    logit = logit_fn(generator_fn(z)).reshape(len(z))
    return 0.5 * z.flatten(1).pow(2).sum(1) - logit


def energy_and_grad(energy_fn: EnergyFn, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E(z) (n,) and grad_z E(z) (n, ...) by autograd, both detached. Grad is enabled locally, so
    it works under an outer no_grad; the gradient of sum_i E(z_i) is row i's own gradient as long
    as the rows are independent."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        energy = energy_fn(z)
        if energy.shape != (len(z),):
            raise ValueError(
                f"energy_fn returned shape {tuple(energy.shape)}; allowed: ({len(z)},), one "
                "energy per row of z"
            )
        (grad,) = torch.autograd.grad(energy.sum(), z)
    return energy.detach(), grad


def step_sizes(eps0: float, n_steps: int, decay: float = 1.0, decay_every: int = 1) -> list[float]:
    """eps_k = eps0 * decay^(k // decay_every) for k = 0 .. n_steps - 1: the step size is cut by
    `decay` every `decay_every` steps."""
    if not (eps0 > 0 and math.isfinite(eps0)):
        raise ValueError(f"eps0 = {eps0}; allowed: a finite step size > 0")
    if not isinstance(n_steps, numbers.Integral) or n_steps < 0:
        raise ValueError(f"n_steps = {n_steps!r}; allowed: an integer >= 0")
    if not 0 < decay <= 1:
        raise ValueError(f"decay = {decay}; allowed: 0 < decay <= 1")
    if not isinstance(decay_every, numbers.Integral) or decay_every < 1:
        raise ValueError(f"decay_every = {decay_every!r}; allowed: an integer >= 1")
    return [eps0 * decay ** (k // decay_every) for k in range(n_steps)]


@dataclass(frozen=True, eq=False)
class LangevinChain:
    """A run of n chains: the final z (n, ...), the energies E(z_k) (n_steps + 1, n) at
    k = 0 .. n_steps (k = 0 is z0), the `record` values at the same z_k (n_steps + 1, n) or None,
    MALA's acceptance rate (mean over steps and chains; None for ULA or n_steps = 0), and the
    wall time."""

    z_final: torch.Tensor
    energies: torch.Tensor
    records: torch.Tensor | None
    acceptance: float | None
    seconds: float
    n_steps: int


def _log_proposal(
    to: torch.Tensor, at: torch.Tensor, grad_at: torch.Tensor, h: float
) -> torch.Tensor:
    """log q(to | at) + const, (n,): the Langevin proposal N(to; at - h grad E(at), 2 h I)."""
    return -(to - at + h * grad_at).flatten(1).pow(2).sum(1) / (4 * h)


def ddls(
    energy_fn: EnergyFn,
    z0: torch.Tensor,
    n_steps: int,
    eps0: float,
    *,
    decay: float = 1.0,
    decay_every: int = 1,
    mala: bool = False,
    generator: torch.Generator | None = None,
    record: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> LangevinChain:
    """Langevin chains on p ∝ exp(-E) from z0 (n, ...), eps_k from `step_sizes`, h = eps_k / 2.

    ULA: z <- langevin_step(z, -grad E(z), h, noise), i.e. z - (eps / 2) grad E + sqrt(eps) n.
    MALA: that move is a proposal z', accepted row by row with probability
    min(1, exp(E(z) - E(z') + log q(z | z') - log q(z' | z))), q(b | a) the proposal density
    N(b; a - h grad E(a), 2h I); a rejected row stays at z. One energy and gradient evaluation
    per step either way.
    record(z_k) -> (n,) is called once per k = 0 .. n_steps in order, under no_grad (e.g. the
    stage's d(G(z))). The noise (and MALA's uniforms) come from `generator`, on z0's device.
    """
    eps = step_sizes(eps0, n_steps, decay, decay_every)
    if generator is not None and torch.device(generator.device) != z0.device:
        raise ValueError(
            f"generator is on {generator.device} but z0 is on {z0.device}; "
            "create the generator on z0's device"
        )
    n = len(z0)

    def recorded(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            value = record(z)
        if value.shape != (n,):
            raise ValueError(f"record returned shape {tuple(value.shape)}; allowed: ({n},)")
        return value.detach()

    start = time.perf_counter()
    z = z0.detach()
    energy, grad = energy_and_grad(energy_fn, z)
    energies, records, accepted = [energy], [], []
    if record is not None:
        records.append(recorded(z))
    for k, eps_k in enumerate(eps):
        h = eps_k / 2
        noise = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        proposal = langevin_step(z, -grad, h, noise)
        if mala:
            energy_p, grad_p = energy_and_grad(energy_fn, proposal)
            log_ratio = (
                energy
                - energy_p
                + _log_proposal(z, proposal, grad_p, h)
                - _log_proposal(proposal, z, grad, h)
            )
            u = torch.rand(n, generator=generator, device=z.device, dtype=z.dtype)
            accept = u.log() < log_ratio  # (n,); a NaN ratio (E overflow) rejects
            rows = accept.reshape(n, *([1] * (z.dim() - 1)))
            z = torch.where(rows, proposal, z)
            grad = torch.where(rows, grad_p, grad)
            energy = torch.where(accept, energy_p, energy)
            accepted.append(accept)
        else:
            z = proposal
            if k < n_steps - 1:
                energy, grad = energy_and_grad(energy_fn, z)
            else:  # the last state needs no gradient
                with torch.no_grad():
                    energy = energy_fn(z)
        energies.append(energy)
        if record is not None:
            records.append(recorded(z))
    acceptance = torch.stack(accepted).float().mean().item() if accepted else None
    if z.device.type == "cuda":
        torch.cuda.synchronize(z.device)
    return LangevinChain(
        z_final=z,
        energies=torch.stack(energies),
        records=torch.stack(records) if record is not None else None,
        acceptance=acceptance,
        seconds=time.perf_counter() - start,
        n_steps=n_steps,
    )
