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
