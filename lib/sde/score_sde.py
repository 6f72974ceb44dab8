"""Song et al.'s (2021) VE and VP SDEs as schedules of the one Gaussian path, in our time.

Our t runs from noise (t = 0) to data (t = 1); the papers' diffusion time s runs from data (s = 0)
to noise (s = 1). `diffusion_time` is the one place converting between them. The forward
(noising) SDE dx = f(x, s) ds + g(s) dW of a schedule (alpha_t, sigma_t) has the path's marginals
p(x_s | z) = N(alpha z, sigma^2 I) when, with ' = d/dt (and d/ds = -d/dt),

    f(x, s) = (d log alpha / ds) x = -(alpha' / alpha) x,
    g(s)^2  = d sigma^2 / ds - 2 (d log alpha / ds) sigma^2
            = 2 (alpha' sigma^2 / alpha - sigma sigma').

VE (alpha = 1, geometric sigma): f = 0, g = sigma sqrt(2 ln(sigma_max / sigma_min)). VP: f =
-beta(s) x / 2, g = sqrt(beta(s)). Both drifts are singular where alpha = 0 (the pure-noise end of
the linear-type schedules), which VE and VP never reach. `ScoreSDE.chain` gives Song's discrete
chains (SMLD, DDPM) that the reverse-diffusion, ancestral and Langevin steps of
`lib.sde.pc_sampling` use.

The prior N(0, prior_std^2 I) is not exactly the marginal p_0: VE's p_0 is the data blurred by
sigma_max (its mean is the data's), VP's keeps alpha_0 = exp(-(beta_min + beta_max) / 4) of the
data (0.0066 for the defaults). Samplers and likelihoods start from the prior, as Song et al.'s do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lib.paths.schedules import Schedule, VESchedule, VPSchedule
from lib.sde.solvers import Field

Time = torch.Tensor | float


def diffusion_time(t: Time) -> Time:
    """Song's diffusion time s = 1 - t of our time t (and back: t = 1 - s, an involution).

    Hence d/ds = -d/dt: a forward (noising) step ds > 0 of theirs is a backward step of ours, and
    their reverse-time SDE dx = [f - g^2 s] ds + g dW, run with ds < 0, is our forward-time SDE
    dx = [-f + g^2 s] dt + g dW (`ScoreSDE.reverse_drift`)."""
    return 1 - t


@dataclass(frozen=True)
class Level:
    """One level k of a discrete chain (python floats), visited at our time t; the chain's forward
    step into it is x_k = decay x_{k-1} + g z (see `Chain`)."""

    index: int
    t: float  # our time of the level
    dt: float  # our time from this level to the next one visited (to t = 1 after level 0)
    decay: float
    g: float
    ancestral_std: float
    langevin_alpha: float


@dataclass(frozen=True, eq=False)
class Chain:
    """Song's discrete chain of n levels k = 0 .. n - 1 (k = 0 least noisy), each (n,) float64.

    Forward (noising) step: x_k = decay_k x_{k-1} + g_k z, z ~ N(0, I).
      SMLD (VE): sigma_k geometric from sigma_min (k = 0) to sigma_max, decay_k = 1,
        g_k = sqrt(sigma_k^2 - sigma_{k-1}^2) with sigma_{-1} = 0, ancestral std
        sigma_{k-1} g_k / sigma_k, Langevin alpha_k = 1.
      DDPM (VP): beta_k = linspace(beta_min / n, beta_max / n, n)[k], decay_k = sqrt(1 - beta_k),
        g_k = ancestral std = sqrt(beta_k), Langevin alpha_k = 1 - beta_k.
    Level to time: level k sits at diffusion time s_k = max(k / (n - 1), eps), our t_k = 1 - s_k:
    the sampler visits k = n - 1 (at t = 0) first and k = 0 (at t = 1 - eps, where a score from
    noise is still finite) last. So the score is evaluated at the level's own noise: VE's sigma_k
    is sigma(t_k) exactly (k >= 1), and DDPM's beta_k = beta(s_k) / n. Song et al. evaluate at
    timesteps linspace(1, eps, n) instead (index floor(s (n - 1)) = k, as here, for
    (n - 1) eps < 1), up to eps later in s than the level's own noise: for VP every level's beta
    then lags the score's by up to eps (beta_max - beta_min), a bias that does not vanish as n
    grows, while this mapping converges to the SDE.
    dt_k is our time to the next level visited, t_{k-1} - t_k, and eps after level 0 (to t = 1):
    the continuous-time predictors integrate [0, 1] on that grid. With n - 1 > 1 / eps the last
    levels k < (n - 1) eps all sit at s = eps (dt = 0 between them), never beyond.
    """

    kind: str
    t: torch.Tensor
    dt: torch.Tensor
    decay: torch.Tensor
    g: torch.Tensor
    ancestral_std: torch.Tensor
    langevin_alpha: torch.Tensor

    def __len__(self) -> int:
        return len(self.t)

    def level(self, k: int) -> Level:
        if not 0 <= k < len(self):
            raise ValueError(f"level {k} out of range 0 .. {len(self) - 1}")
        values = (self.t, self.dt, self.decay, self.g, self.ancestral_std, self.langevin_alpha)
        return Level(k, *(v[k].item() for v in values))


@dataclass(frozen=True)
class ScoreSDE:
    """The forward SDE of a Gaussian-path schedule; x is (n, ...), t our time (0-dim tensor or
    float). eps: sampling and likelihoods stop at t = 1 - eps (Song: 1e-5 for VE, 1e-3 for VP)."""

    schedule: Schedule
    eps: float

    def __post_init__(self) -> None:
        if not 0 < self.eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {self.eps}")

    @property
    def kind(self) -> str:
        """The SDE's kind: "ve" or "vp" from the schedule's type, else the schedule's name."""
        if isinstance(self.schedule, VESchedule):
            return "ve"
        if isinstance(self.schedule, VPSchedule):
            return "vp"
        return self.schedule.name

    @property
    def t_end(self) -> float:
        """Where sampling and likelihoods stop: t = 1 - eps."""
        return 1 - self.eps

    def _coefficients(self, t: Time, like: torch.Tensor | None = None):
        """(alpha, sigma, d_alpha, d_sigma) at t as 0-dim tensors (float64 for a float t)."""
        dtype = like.dtype if like is not None else torch.float64
        device = like.device if like is not None else None
        t = torch.as_tensor(t, dtype=dtype, device=device)
        if t.ndim != 0:
            raise ValueError(f"t must be a float or a 0-dim tensor, got shape {tuple(t.shape)}")
        sch = self.schedule
        return sch.alpha(t), sch.sigma(t), sch.d_alpha(t), sch.d_sigma(t)

    def drift(self, x: torch.Tensor, t: Time) -> torch.Tensor:
        """f(x, s) = (d log alpha / ds) x = -(d_alpha / alpha)(t) x: VE 0, VP -beta(s) x / 2."""
        a, _, da, _ = self._coefficients(t, x)
        return -(da / a) * x

    def diffusion(self, t: Time) -> torch.Tensor:
        """g(s) = sqrt(2 (d_alpha sigma^2 / alpha - sigma d_sigma)) at s = 1 - t (0-dim)."""
        a, s, da, ds = self._coefficients(t)
        return torch.sqrt(2 * (da * s**2 / a - s * ds))

    def marginal(self, z: torch.Tensor, t: Time) -> tuple[torch.Tensor, torch.Tensor]:
        """p_t(x | z) = N(mean, std^2 I): (alpha_t z, sigma_t), the std 0-dim."""
        a, s, _, _ = self._coefficients(t, z)
        return a * z, s

    def prior_sample(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """x_0 ~ N(0, prior_std^2 I) of the given shape (batch first)."""
        x = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        return self.schedule.prior_std * x

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x; 0, prior_std^2 I) summed over the non-batch dims: (n, ...) -> (n,)."""
        std = self.schedule.prior_std
        d = x[0].numel()
        sq = (x.reshape(len(x), -1) ** 2).sum(-1)
        return -0.5 * sq / std**2 - d * (math.log(std) + 0.5 * math.log(2 * math.pi))

    def reverse_drift(self, x: torch.Tensor, score: torch.Tensor, t: Time) -> torch.Tensor:
        """Drift in our forward time of the reverse-time SDE: -f + g^2 s, s = score at (x, t)."""
        return -self.drift(x, t) + self.diffusion(t).to(x) ** 2 * score

    def probability_flow(self, x: torch.Tensor, score: torch.Tensor, t: Time) -> torch.Tensor:
        """Velocity of the probability-flow ODE in our time: -f + g^2 s / 2, which equals
        `GaussianPath.velocity_from_score`."""
        return -self.drift(x, t) + 0.5 * self.diffusion(t).to(x) ** 2 * score

    def probability_flow_field(self, score: Field) -> Field:
        """The probability-flow velocity u(x, t) of a score function s(x, t)."""
        return lambda x, t: self.probability_flow(x, score(x, t), t)

    def unit_prior_field(self, velocity: Field) -> Field:
        """A field over tau in [0, 1] with prior N(0, I) whose CNF log-density at tau = 1 is that
        of the flow dx/dt = u(x, t) from N(0, prior_std^2 I) at t = 0 to t = 1 - eps.

        With t = (1 - eps) tau and y = x / c(tau), c = prior_std^(1 - tau) (c(0) = prior_std,
        c(1) = 1): dy/dtau = (1 - eps) u(c y, t) / c - (c' / c) y, c' / c = -ln prior_std. Its
        divergence is (1 - eps) div u + D ln prior_std, y_0 = x_0 / prior_std ~ N(0, I) and
        y_1 = x_{1-eps}, so `lib.flows.likelihood.log_prob_flow` of it is log p_{1-eps}.
        """
        span, log_std = self.t_end, math.log(self.schedule.prior_std)

        def field(y: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
            c = torch.exp((1 - tau) * log_std)
            return span * velocity(c * y, span * tau) / c + log_std * y

        return field

    def chain(self, n: int) -> Chain:
        """Song's discrete chain of n >= 2 levels: SMLD for VE, DDPM for VP (see `Chain`)."""
        if n < 2:
            raise ValueError(f"a discrete chain needs n >= 2 levels, got {n}")
        f64 = torch.float64
        s = (torch.arange(n, dtype=f64) / (n - 1)).clamp(min=self.eps)
        t = diffusion_time(s)  # level k at s_k
        dt = torch.cat([t.new_tensor([self.eps]), t[:-1] - t[1:]])
        sch = self.schedule
        if isinstance(sch, VESchedule):
            sigmas = torch.exp(
                torch.linspace(math.log(sch.sigma_min), math.log(sch.sigma_max), n, dtype=f64)
            )
            prev = torch.cat([sigmas.new_zeros(1), sigmas[:-1]])
            g = torch.sqrt(sigmas**2 - prev**2)
            ones = torch.ones(n, dtype=f64)
            return Chain("ve", t, dt, ones, g, prev * g / sigmas, ones)
        if isinstance(sch, VPSchedule):
            if sch.beta_max >= n:
                raise ValueError(
                    f"the DDPM chain needs beta_max / n < 1 (sqrt(1 - beta_k) real), got n = {n} "
                    f"levels for beta_max = {sch.beta_max}: use n > {math.floor(sch.beta_max)}"
                )
            betas = torch.linspace(sch.beta_min / n, sch.beta_max / n, n, dtype=f64)
            return Chain("vp", t, dt, torch.sqrt(1 - betas), betas.sqrt(), betas.sqrt(), 1 - betas)
        raise ValueError(
            f"the discrete chain exists for VE and VP schedules only, got {self.kind!r}; "
            "allowed: ['ve', 'vp']"
        )


def ve_sde(sigma_min: float, sigma_max: float, eps: float = 1e-5) -> ScoreSDE:
    """The VE SDE (SMLD): sigma from sigma_max at t = 0 to sigma_min at t = 1 (Song and Ermon:
    sigma_max about the largest pairwise distance between training points)."""
    return ScoreSDE(VESchedule(sigma_min, sigma_max), eps)


def vp_sde(beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> ScoreSDE:
    """The VP SDE (DDPM) with the linear rate beta(s) = beta_min + s (beta_max - beta_min)."""
    return ScoreSDE(VPSchedule(beta_min, beta_max), eps)
