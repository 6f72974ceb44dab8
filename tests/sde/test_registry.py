"""The one sampler table: every entry runs on a tiny problem with the NFE it declares, the
stochastic flag matches whether the noise seed matters, names and missing inputs raise."""

import pytest
import torch

from lib.paths.gaussian import GaussianMixtureMarginal, GaussianPath
from lib.paths.schedules import LinearSchedule
from lib.sde import pc_sampling, registry, samplers
from lib.sde.score_sde import ve_sde
from lib.sde.solvers import EVALS_PER_STEP

SDE = ve_sde(0.01, 5.0)
ONE = torch.ones(1)
SCORE_SDE_GMM = GaussianMixtureMarginal(
    GaussianPath(SDE.schedule), 0.5 * ONE[:, None], 0.3 * ONE, ONE
)
FLOW_GMM = GaussianMixtureMarginal(
    GaussianPath(LinearSchedule()), 0.5 * ONE[:, None], 0.3 * ONE, ONE
)
N_STEPS = 8


def _run(spec: registry.SamplerSpec, seed: int):
    if spec.family == "flow":
        x0 = torch.randn(20, 1, generator=torch.Generator().manual_seed(0))
        inputs = {"velocity": FLOW_GMM.velocity, "score": FLOW_GMM.score, "sigma": 0.5}
    elif spec.family == "latent":  # E(z) = |z - 1|^2 / 2: the target N(1, 1)
        x0 = torch.randn(20, 1, generator=torch.Generator().manual_seed(0))
        inputs = {"energy": lambda z: 0.5 * ((z - 1) ** 2).sum(-1), "step_size": 0.1}
    else:
        x0 = SDE.prior_sample((20, 1), torch.Generator().manual_seed(0))
        inputs = {"sde": SDE, "score": SCORE_SDE_GMM.score}
    return spec.run(x0, N_STEPS, generator=torch.Generator().manual_seed(seed), **inputs)


def test_the_table_holds_both_families():
    flow = {name for name, s in registry.SAMPLERS.items() if s.family == "flow"}
    assert flow == set(samplers.SAMPLERS)
    predictors = [p for p in pc_sampling.PREDICTORS if p != "none"]
    score_sde = {*predictors, *(f"pc_{p}" for p in predictors), "langevin"}
    score_sde |= {"probability_flow_euler", "probability_flow_rk4", "probability_flow_adaptive"}
    assert score_sde <= set(registry.SAMPLERS) - flow
    assert all(name == spec.name and spec.description for name, spec in registry.SAMPLERS.items())


@pytest.mark.parametrize("name", sorted(registry.SAMPLERS))
def test_every_entry_runs_with_its_nfe_and_noise_flag(name):
    spec = registry.get(name)
    x, nfe = _run(spec, seed=1)
    assert x.shape == (20, 1) and torch.isfinite(x).all() and nfe > 0
    if spec.family == "flow":
        assert nfe == samplers.nfe(name, N_STEPS)
    elif spec.family == "latent":
        assert nfe == N_STEPS + 1
    elif name.startswith("probability_flow_") and name != "probability_flow_adaptive":
        assert nfe == EVALS_PER_STEP[name.removeprefix("probability_flow_")] * N_STEPS
    elif name != "probability_flow_adaptive":
        predictor = "none" if name == "langevin" else name.removeprefix("pc_")
        corrector = "langevin" if name.startswith("pc_") or name == "langevin" else "none"
        assert nfe == pc_sampling.nfe(predictor, corrector, N_STEPS)
    x_other, _ = _run(spec, seed=2)
    assert torch.equal(x, x_other) != spec.stochastic


def test_unknown_names_raise_with_the_allowed_list():
    with pytest.raises(
        ValueError, match=r"unknown sampler 'dpm'; allowed: \[.*'pc_reverse_diffusion'"
    ):
        registry.get("dpm")


@pytest.mark.parametrize(
    ("name", "given", "missing"),
    [
        ("reverse_diffusion", {"score": SCORE_SDE_GMM.score}, "sde"),
        ("pc_ancestral_sampling", {"sde": SDE}, "score"),
        ("probability_flow_adaptive", {}, "sde, score"),
        ("rk4", {}, "velocity"),
        ("em", {"velocity": FLOW_GMM.velocity}, "score"),
    ],
)
def test_missing_inputs_raise(name, given, missing):
    with pytest.raises(ValueError, match=f"sampler '{name}' needs {missing}"):
        registry.get(name).run(torch.zeros(3, 1), N_STEPS, **given)


def test_options_reach_the_score_sde_sampler_and_are_refused_elsewhere():
    x0 = SDE.prior_sample((20, 1), torch.Generator().manual_seed(0))
    kw = {"sde": SDE, "score": SCORE_SDE_GMM.score}
    noisy, _ = registry.get("pc_reverse_diffusion").run(
        x0, N_STEPS, generator=torch.Generator().manual_seed(3), denoise=False, **kw
    )
    clean, _ = registry.get("pc_reverse_diffusion").run(
        x0, N_STEPS, generator=torch.Generator().manual_seed(3), denoise=True, **kw
    )
    assert not torch.equal(noisy, clean)  # the last step's noise G_0 z is kept without denoise
    _, loose = registry.get("probability_flow_adaptive").run(x0, 0, rtol=1e-2, atol=1e-2, **kw)
    _, tight = registry.get("probability_flow_adaptive").run(x0, 0, rtol=1e-6, atol=1e-6, **kw)
    assert loose < tight
    with pytest.raises(ValueError, match="takes no options"):
        registry.get("rk4").run(x0, 2, velocity=FLOW_GMM.velocity, denoise=True)


def test_latent_entries_move_toward_the_energys_minimum():
    # E(z) = |z - 3|^2 / 2 from z_0 ~ N(0, 1): after 200 steps the chains sit near 3 (N(3, 1))
    x0 = torch.randn(2000, 1, generator=torch.Generator().manual_seed(0))
    for name in ("ddls", "ddls_mala"):
        z, _ = registry.get(name).run(
            x0, 200, generator=torch.Generator().manual_seed(1), step_size=0.2,
            energy=lambda z: 0.5 * ((z - 3) ** 2).sum(-1),
        )  # fmt: skip
        assert abs(z.mean().item() - 3) < 0.15 and abs(z.var().item() - 1) < 0.2, name
    with pytest.raises(ValueError, match="needs energy"):
        registry.get("ddls").run(x0, 2, step_size=0.1)
