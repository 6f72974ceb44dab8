"""One table of every sampler, chosen by name: the flow models' ODE and SDE samplers
(`lib.sde.samplers`) and the score-SDE ones (`lib.sde.pc_sampling`).

Score-SDE entries, for each predictor P of `pc_sampling.PREDICTORS`: "P" (P only), "pc_P" (P with
one Langevin corrector step a level), and "langevin" (the corrector only); "probability_flow_M"
for each fixed-step ODE method M, and "probability_flow_adaptive" (dopri5, rtol = atol = 1e-5,
Song's tolerance; n_steps is ignored). Note "probability_flow" (Song's discretized predictor) and
"probability_flow_euler" (Euler on the continuous ODE) are different samplers.
Every entry's `run(x0, n_steps, *, velocity, score, sde, sigma, snr, generator, **options)`
returns (x, nfe), nfe the function evaluations per sample; `options` go to the score-SDE sampler
(`denoise`, `n_corrector_steps` of the PC loop; `method`, `rtol`, `atol` of the adaptive solve).
Latent entries ("ddls", "ddls_mala": `lib.sde.latent_langevin`) take the energy E(z) and the
initial step size as options `energy`, `step_size` (and `decay`, `decay_every`); x0 is z_0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from lib.sde import latent_langevin, pc_sampling, samplers
from lib.sde.solvers import ODE_STEPS

RunFn = Callable[..., tuple[torch.Tensor, int]]


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler's name, family, whether it draws noise, a one-line description, and
    run(x0, n_steps, *, velocity=None, score=None, sde=None, sigma=0.0, snr=0.16, generator=None,
    **options) -> (x, nfe)."""

    name: str
    family: Literal["flow", "score_sde", "latent"]
    stochastic: bool
    description: str
    run: RunFn


def _require(name: str, **given) -> None:
    missing = [key for key, value in given.items() if value is None]
    if missing:
        raise ValueError(f"sampler {name!r} needs {', '.join(missing)}, which was not given")


def _flow(name: str) -> RunFn:
    def run(
        x0, n_steps, *, velocity=None, score=None, sde=None, sigma=0.0, snr=0.16, generator=None,
        **options,
    ):  # fmt: skip
        if options:
            raise ValueError(f"sampler {name!r} takes no options, got {sorted(options)}")
        if name == "em":
            _require(name, velocity=velocity, score=score)
        else:
            _require(name, velocity=velocity)
        x = samplers.sample(
            name, velocity, x0, n_steps, score=score, sigma=sigma, generator=generator
        )
        return x, samplers.nfe(name, n_steps)

    return run


def _pc(name: str, predictor: str, corrector: str) -> RunFn:
    def run(
        x0, n_steps, *, velocity=None, score=None, sde=None, sigma=0.0, snr=0.16, generator=None,
        **options,
    ):  # fmt: skip
        _require(name, sde=sde, score=score)
        out = pc_sampling.pc_sample(
            sde, score, x0, n_steps, predictor, corrector, snr=snr, generator=generator, **options
        )
        return out.x, out.nfe

    return run


def _ode(name: str, method: str | None) -> RunFn:
    def run(
        x0, n_steps, *, velocity=None, score=None, sde=None, sigma=0.0, snr=0.16, generator=None,
        **options,
    ):  # fmt: skip
        _require(name, sde=sde, score=score)
        if method is None:
            out = pc_sampling.probability_flow_adaptive(sde, score, x0, **options)
        else:
            if options:
                raise ValueError(f"sampler {name!r} takes no options, got {sorted(options)}")
            out = pc_sampling.probability_flow_ode(sde, score, x0, n_steps, method)
        return out.x, out.nfe

    return run


def _latent(name: str, mala: bool) -> RunFn:
    def run(
        x0, n_steps, *, velocity=None, score=None, sde=None, sigma=0.0, snr=0.16, generator=None,
        energy=None, step_size=None, **options,
    ):  # fmt: skip
        _require(name, energy=energy, step_size=step_size)
        chain = latent_langevin.ddls(
            energy, x0, n_steps, step_size, mala=mala, generator=generator, **options
        )
        return chain.z_final, n_steps + 1  # the energy (and its gradient) at z_0 .. z_n

    return run


def _table() -> dict[str, SamplerSpec]:
    table = {
        m: SamplerSpec(m, "flow", False, f"the flow ODE by fixed-step {m}", _flow(m))
        for m in samplers.SAMPLERS
        if m != "em"
    }
    table["em"] = SamplerSpec(
        "em", "flow", True, "Euler–Maruyama on the flow SDE u + g^2 s / 2 (g = sigma)", _flow("em")
    )
    for p in pc_sampling.PREDICTORS:
        if p == "none":
            continue
        noisy = p != "probability_flow"
        table[p] = SamplerSpec(p, "score_sde", noisy, f"predictor {p} only", _pc(p, p, "none"))
        name = f"pc_{p}"
        text = f"predictor {p} after one Langevin corrector step a level"
        table[name] = SamplerSpec(name, "score_sde", True, text, _pc(name, p, "langevin"))
    table["langevin"] = SamplerSpec(
        "langevin",
        "score_sde",
        True,
        "the Langevin corrector only",
        _pc("langevin", "none", "langevin"),
    )
    for m in ODE_STEPS:
        name = f"probability_flow_{m}"
        text = f"the probability-flow ODE by fixed-step {m} to t = 1 - eps"
        table[name] = SamplerSpec(name, "score_sde", False, text, _ode(name, m))
    name = "probability_flow_adaptive"
    text = "the probability-flow ODE by dopri5 (rtol = atol = 1e-5) to t = 1 - eps"
    table[name] = SamplerSpec(name, "score_sde", False, text, _ode(name, None))
    for name, mala in (("ddls", False), ("ddls_mala", True)):
        text = "latent Langevin on an energy E(z) (a GAN's |z|^2 / 2 - d(G(z)))" + (
            ", Metropolis-adjusted" if mala else ""
        )
        table[name] = SamplerSpec(name, "latent", True, text, _latent(name, mala))
    return table


SAMPLERS: dict[str, SamplerSpec] = _table()


def get(name: str) -> SamplerSpec:
    """The sampler `name`; raises with the allowed names."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; allowed: {sorted(SAMPLERS)}")
    return SAMPLERS[name]
