"""GAN training: the non-saturating losses against their log-sigmoid formulas (and finite at large
logits), a short run on the digits in which the discriminator learns, and an interrupted,
checkpointed run that resumes to the same weights and losses as an uninterrupted one."""

import math

import pytest
import torch

from lib.flows.likelihood import dequantize
from lib.nets.gan import Discriminator, GanConfig, Generator
from lib.training.gan_loop import discriminator_loss, fit_gan, generator_loss

CONFIG = GanConfig(latent_dim=8, channels=(16, 8), spectral_norm=True, batch_norm=True)


def test_losses_match_log_sigmoid_formulas():
    gen = torch.Generator().manual_seed(0)
    d_real, d_fake = 3 * torch.randn(2, 50, generator=gen, dtype=torch.float64)
    s_real, s_fake = torch.sigmoid(d_real), torch.sigmoid(d_fake)
    expected_d = -torch.log(s_real).mean() - torch.log(1 - s_fake).mean()
    torch.testing.assert_close(discriminator_loss(d_real, d_fake), expected_d, rtol=1e-12, atol=0)
    expected_g = -torch.log(s_fake).mean()
    torch.testing.assert_close(generator_loss(d_fake), expected_g, rtol=1e-12, atol=0)
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))


def test_losses_finite_for_large_logits():
    big = torch.tensor([-1e4, 1e4])
    # -log sigmoid(-1e4) = 1e4 to float precision, where log(sigmoid(-1e4)) = log(0) = -inf.
    assert discriminator_loss(big, big).item() == pytest.approx(1e4)
    assert generator_loss(big).item() == pytest.approx(5e3)
    confident = discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4]))
    assert confident.item() == 0.0


def _fit(images, n_levels, n_iters, **kwargs):
    torch.manual_seed(0)
    generator = Generator(CONFIG, 1, 8)
    discriminator = Discriminator(CONFIG, 1, 8)
    result = fit_gan(
        generator,
        discriminator,
        images,
        n_iters=n_iters,
        batch_size=32,
        lr_g=2e-4,
        lr_d=1e-3,
        latent_dim=CONFIG.latent_dim,
        preprocess=kwargs.pop("preprocess", lambda x, g: dequantize(x, n_levels, g)),
        seed_generator=torch.Generator().manual_seed(1),
        progress=False,
        **kwargs,
    )
    return generator, discriminator, result


def test_discriminator_learns_on_digits(digits):
    images = torch.as_tensor(digits.train.images)
    generator, discriminator, result = _fit(images, 17, 40)
    assert len(result.d_loss) == len(result.g_loss) == len(result.d_real_mean) == 40
    assert result.resumed_from == 0 and result.seconds > 0
    assert not generator.training and not discriminator.training
    # At chance L_D = 2 log 2 = 1.386; an untrained D starts near there (logits near 0; a spread
    # s of the logits adds about s^2 / 4).
    assert result.d_loss[0] == pytest.approx(2 * math.log(2), abs=0.1)
    late = sum(result.d_loss[-10:]) / 10
    assert late < 2 * math.log(2) - 0.5
    # D separates real from fake: its mean logit is higher on the real batch.
    assert sum(result.d_real_mean[-10:]) > sum(result.d_fake_mean[-10:])


class _Interrupted(Exception):
    pass


def test_interrupted_run_resumes_bit_identical(digits, tmp_path):
    images = torch.as_tensor(digits.train.images[:200])
    n, half = 12, 6
    path = tmp_path / "gan.ckpt"
    g_ref, d_ref, ref = _fit(images, 17, n, n_critic=2, checkpoint=path, checkpoint_every=half)
    assert not path.exists()  # removed once the run completes

    calls = {"n": 0}

    def crashing(x, g):  # called n_critic = 2 times per iteration: dies in iteration half + 1
        calls["n"] += 1
        if calls["n"] > 2 * half:
            raise _Interrupted
        return dequantize(x, 17, g)

    with pytest.raises(_Interrupted):
        _fit(images, 17, n, n_critic=2, checkpoint=path, checkpoint_every=half, preprocess=crashing)
    assert path.exists()
    torch.manual_seed(123)  # the fresh models' initial weights must not matter
    g_res, d_res, res = _fit(images, 17, n, n_critic=2, checkpoint=path, checkpoint_every=half)
    assert res.resumed_from == half and not path.exists()
    for a, b in [(g_ref, g_res), (d_ref, d_res)]:
        for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(x, y), key
    assert res.d_loss == ref.d_loss and res.g_loss == ref.g_loss
    assert res.d_real_mean == ref.d_real_mean and res.d_fake_mean == ref.d_fake_mean
