"""Song et al.'s (2021) predictor-corrector samplers and the probability-flow ODE, in our time.

Notation (FACTS.md, Song et al. sec. 4): s = score(x, t), z ~ N(0, I), x̄ the noise-free mean of
a step, f and g the SDE's drift and diffusion (`ScoreSDE`), and per level k of the discrete chain
(`ScoreSDE.chain`) its decay a_k, noise g_k (Song's G_i), ancestral std and Langevin alpha_k.
The loop visits levels k = n - 1 (at t = 0) .. 0 (at t = 1 - eps), level k at our time
t_k = 1 - max(k / (n - 1), eps) (`ScoreSDE.chain`); at each it runs the corrector, then the
predictor (Song's order).

Predictors, each (sde, score, x, level, generator) -> (x, x̄), one score evaluation a step:
  euler_maruyama      x̄ = x + h (-f + g^2 s), x = x̄ + g sqrt(h) z, h = level.dt (continuous SDE)
  reverse_diffusion   x̄ = x - f_k + g_k^2 s, x = x̄ + g_k z, f_k = (a_k - 1) x (the chain's drift)
  ancestral_sampling  x̄ = (x + g_k^2 s) / a_k, x = x̄ + ancestral_std_k z (VE: a_k = 1; VP: DDPM)
  probability_flow    x̄ = x = x - f_k + g_k^2 s / 2: Song's probability-flow predictor, the
                      reverse-diffusion discretization of the ODE without noise (Euler on the
                      continuous ODE is `probability_flow_ode(..., method="euler")`)
  none                (x, x)
Correctors, each (sde, score, x, level, generator, snr, n_steps) -> (x, x̄):
  langevin  n_steps of `lib.sde.langevin.langevin_step` with step size
            e = 2 alpha_k (snr ||z|| / ||s||)^2, the norms averaged over the batch
  none      (x, x)
The continuous-time steps (Euler–Maruyama, the ODE solvers) are evaluated at t <= 1 - eps only,
where a score from noise (-eps_hat / sigma_t) stays finite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from lib.sde.adaptive_solver import solve_adaptive
from lib.sde.langevin import langevin_step
from lib.sde.score_sde import Level, ScoreSDE
from lib.sde.solvers import EVALS_PER_STEP, Field, odeint, time_grid

Generator = torch.Generator | None


@dataclass(frozen=True, eq=False)
class PCSample:
    """A sampler's output: the samples (n, ...) and the score evaluations per sample."""

    x: torch.Tensor
    nfe: int


class _CountedScore:
    """A score function that counts its calls (one call evaluates the whole batch)."""

    def __init__(self, score: Field) -> None:
        self.score, self.calls = score, 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.score(x, t)


def _check_generator(generator: Generator, x0: torch.Tensor) -> None:
    if generator is not None and torch.device(generator.device) != x0.device:
        raise ValueError(
            f"generator is on {generator.device} but x0 is on {x0.device}; "
            "create the generator on x0's device"
        )


def _noise(x: torch.Tensor, generator: Generator) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _time(level: Level, x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(level.t, dtype=x.dtype, device=x.device)


# ---------------------------------------------------------------------------------- predictors

Step = tuple[torch.Tensor, torch.Tensor]  # (x, x̄)


def euler_maruyama(
    sde: ScoreSDE, score: Field, x: torch.Tensor, level: Level, generator: Generator
) -> Step:
    """x̄ = x + h (-f + g^2 s), x = x̄ + g sqrt(h) z: the reverse SDE in our time, step h."""
    t = _time(level, x)
    x_mean = x + level.dt * sde.reverse_drift(x, score(x, t), t)
    return x_mean + sde.diffusion(t).to(x) * level.dt**0.5 * _noise(x, generator), x_mean


def reverse_diffusion(
    sde: ScoreSDE, score: Field, x: torch.Tensor, level: Level, generator: Generator
) -> Step:
    """x̄ = x - f_k + g_k^2 s with f_k = (a_k - 1) x, x = x̄ + g_k z."""
    x_mean = (2 - level.decay) * x + level.g**2 * score(x, _time(level, x))
    return x_mean + level.g * _noise(x, generator), x_mean


def ancestral_sampling(
    sde: ScoreSDE, score: Field, x: torch.Tensor, level: Level, generator: Generator
) -> Step:
    """x̄ = (x + g_k^2 s) / a_k, x = x̄ + ancestral_std_k z: SMLD's and DDPM's ancestral steps."""
    x_mean = (x + level.g**2 * score(x, _time(level, x))) / level.decay
    return x_mean + level.ancestral_std * _noise(x, generator), x_mean


def probability_flow(
    sde: ScoreSDE, score: Field, x: torch.Tensor, level: Level, generator: Generator
) -> Step:
    """x = x - f_k + g_k^2 s / 2, no noise (Song's reverse-diffusion discretization of the ODE)."""
    x = (2 - level.decay) * x + 0.5 * level.g**2 * score(x, _time(level, x))
    return x, x


def no_predictor(
    sde: ScoreSDE, score: Field, x: torch.Tensor, level: Level, generator: Generator
) -> Step:
    return x, x


Predictor = Callable[[ScoreSDE, Field, torch.Tensor, Level, Generator], Step]
PREDICTORS: dict[str, Predictor] = {
    "euler_maruyama": euler_maruyama,
    "reverse_diffusion": reverse_diffusion,
    "ancestral_sampling": ancestral_sampling,
    "probability_flow": probability_flow,
    "none": no_predictor,
}

# ---------------------------------------------------------------------------------- correctors


def langevin(
    sde: ScoreSDE,
    score: Field,
    x: torch.Tensor,
    level: Level,
    generator: Generator,
    snr: float,
    n_steps: int,
) -> Step:
    """n_steps Langevin steps x + e s + sqrt(2 e) z, e = 2 alpha_k (snr ||z|| / ||s||)^2 with the
    norms averaged over the batch; x̄ is the last step without its noise."""
    t = _time(level, x)
    x_mean = x
    for _ in range(n_steps):
        grad, noise = score(x, t), _noise(x, generator)
        grad_norm = grad.reshape(len(x), -1).norm(dim=-1).mean()
        noise_norm = noise.reshape(len(x), -1).norm(dim=-1).mean()
        step = 2 * level.langevin_alpha * (snr * noise_norm / grad_norm) ** 2
        x_mean = langevin_step(x, grad, step, torch.zeros_like(noise))
        x = langevin_step(x, grad, step, noise)
    return x, x_mean


def no_corrector(
    sde: ScoreSDE,
    score: Field,
    x: torch.Tensor,
    level: Level,
    generator: Generator,
    snr: float,
    n_steps: int,
) -> Step:
    return x, x


Corrector = Callable[[ScoreSDE, Field, torch.Tensor, Level, Generator, float, int], Step]
CORRECTORS: dict[str, Corrector] = {"langevin": langevin, "none": no_corrector}


def _lookup(table: dict, kind: str, name: str):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; allowed: {sorted(table)}")
    return table[name]


def nfe(predictor: str, corrector: str, n_steps: int, n_corrector_steps: int = 1) -> int:
    """Score evaluations per sample of `pc_sample`: n_steps (P + n_corrector_steps C), P and C
    being 1 when set and 0 for "none"."""
    _lookup(PREDICTORS, "predictor", predictor)
    _lookup(CORRECTORS, "corrector", corrector)
    per_level = (predictor != "none") + (corrector != "none") * n_corrector_steps
    return n_steps * per_level


# ---------------------------------------------------------------------------------- samplers


def pc_sample(
    sde: ScoreSDE,
    score: Field,
    x0: torch.Tensor,
    n_steps: int,
    predictor: str = "reverse_diffusion",
    corrector: str = "langevin",
    *,
    snr: float = 0.16,
    n_corrector_steps: int = 1,
    denoise: bool = True,
    generator: Generator = None,
) -> PCSample:
    """Song's PC sampler from x0 (n, ...) drawn from the prior at t = 0, over the n_steps levels
    of `sde.chain(n_steps)`: at each the corrector, then the predictor. With denoise the last
    predictor step returns its noise-free mean x̄ (with predictor "none", the corrector's x).
    C-only: predictor "none"; P-only: corrector "none". nfe counts the score's calls."""
    predict = _lookup(PREDICTORS, "predictor", predictor)
    correct = _lookup(CORRECTORS, "corrector", corrector)
    if predictor == "none" and corrector == "none":
        raise ValueError("pc_sample needs a predictor or a corrector; both are 'none'")
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    if n_corrector_steps < 1:
        raise ValueError(f"n_corrector_steps must be a positive integer, got {n_corrector_steps}")
    _check_generator(generator, x0)
    chain, counted = sde.chain(n_steps), _CountedScore(score)
    x = x_mean = x0
    with torch.no_grad():
        for k in reversed(range(n_steps)):
            level = chain.level(k)
            x, x_mean = correct(sde, counted, x, level, generator, snr, n_corrector_steps)
            x, x_mean = predict(sde, counted, x, level, generator)
    return PCSample(x_mean if denoise else x, counted.calls)


def probability_flow_ode(
    sde: ScoreSDE, score: Field, x0: torch.Tensor, n_steps: int, method: str = "rk4"
) -> PCSample:
    """The probability-flow ODE dx/dt = -f + g^2 s / 2 from x0 at t = 0 to t = 1 - eps by a
    fixed-step `lib.sde.solvers` method (euler, rk2, heun, rk4) on a uniform grid."""
    if method not in EVALS_PER_STEP:
        raise ValueError(f"unknown ODE method {method!r}; allowed: {sorted(EVALS_PER_STEP)}")
    counted = _CountedScore(score)
    grid = time_grid(0.0, sde.t_end, n_steps, x0.device, x0.dtype)
    with torch.no_grad():
        x = odeint(sde.probability_flow_field(counted), x0, grid, method)
    return PCSample(x, counted.calls)


def probability_flow_adaptive(
    sde: ScoreSDE,
    score: Field,
    x0: torch.Tensor,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    method: str = "dopri5",
) -> PCSample:
    """The probability-flow ODE from t = 0 to 1 - eps by `solve_adaptive` (Song: RK45, 1e-5);
    nfe counts the score's calls, rejected steps included.

    torchdiffeq's solvers step past the end time and interpolate back to it, so the field is
    evaluated at t clamped to 1 - eps: the score is never called beyond it (VP's sigma_t is NaN
    past t = 1)."""
    counted, t_end = _CountedScore(score), sde.t_end
    flow = sde.probability_flow_field(counted)
    solution = solve_adaptive(
        lambda x, t: flow(x, t.clamp(max=t_end)),
        x0,
        0.0,
        t_end,
        method=method,
        rtol=rtol,
        atol=atol,
    )
    return PCSample(solution.x, counted.calls)
