"""The DDLS chains of the ddls stage on a linear 'generator' into 2x2 images and a quadratic
'discriminator logit': k = 0 is the generator's own image, the recorded means are the chains'."""

import numpy as np
import pytest
import torch

from lib.flows.likelihood import quantize
from lib.images import ddls_study


def _nets():
    a = torch.randn(4, 2, generator=torch.Generator().manual_seed(0)) * 0.3

    def generator(z):
        return torch.tanh(z @ a.T).reshape(len(z), 1, 2, 2)

    def logit(x):
        return -2.0 * ((x.reshape(len(x), -1) - 0.5) ** 2).sum(-1)

    return generator, logit


@pytest.mark.parametrize("mala", [False, True])
def test_chains_keep_the_requested_steps_and_record_the_means(mala):
    generator, logit = _nets()
    z0 = torch.randn(30, 2, generator=torch.Generator().manual_seed(1))
    run = ddls_study.run_chains(
        generator, logit, z0, [0, 2, 5], 0.1, decay=0.5, decay_every=2, mala=mala,
        n_levels=17, batch_size=12, seed=0,
    )  # fmt: skip
    assert sorted(run.images) == [0, 2, 5]
    assert np.array_equal(run.images[0], quantize(generator(z0), 17).numpy())
    assert all(v.shape == (30, 1, 2, 2) and v.dtype == np.uint8 for v in run.images.values())
    assert run.energy.shape == run.logit.shape == (6,)
    assert run.logit[0] == pytest.approx(logit(generator(z0)).mean().item(), rel=1e-5)
    e0 = (0.5 * (z0**2).sum(-1) - logit(generator(z0))).mean().item()
    assert run.energy[0] == pytest.approx(e0, rel=1e-5)
    assert run.energy[-1] < run.energy[0]  # the chains descend the energy on average
    assert (run.acceptance is not None) == mala and run.seconds_per_step > 0
    if mala:
        assert 0 < run.acceptance <= 1


def test_noise_scale_samples_the_sharpened_density():
    # d = 0: E = |z|^2 / 2, so noise scale s samples exp(-|z|^2 / (2 s^2)) = N(0, s^2 I)
    def generator(z):
        return torch.tanh(z).reshape(len(z), 1, 1, 2)

    def logit(x):
        return torch.zeros(len(x))

    z0 = torch.randn(4000, 2, generator=torch.Generator().manual_seed(2))
    run = ddls_study.run_chains(
        generator, logit, z0, [0, 300], 0.05, decay=1.0, decay_every=1, mala=True,
        n_levels=17, batch_size=4000, seed=0, noise_scale=0.5,
    )  # fmt: skip
    # recorded energies are E itself: from E[|z|^2 / 2] = 1 (z_0 ~ N(0, I)) to 0.25 (N(0, 0.25 I))
    assert run.energy[0] == pytest.approx(1.0, abs=0.05)
    assert run.energy[-1] == pytest.approx(0.25, abs=0.02)
