"""DCGAN generator and discriminator: shapes for the digits, MNIST and CIFAR-10 sizes, outputs in
(-1, 1), size and config errors, spectral norm bringing each weight's largest singular value to
1, a logit that does not depend on the rest of the batch, and the save / load round trip."""

import pytest
import torch
from torch import nn

from lib.nets.gan import Discriminator, GanConfig, Generator, load_gan, save_gan, start_size


def _pair(config: GanConfig, channels: int, size) -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    return Generator(config, channels, size), Discriminator(config, channels, size)


@pytest.mark.parametrize(
    ("channels", "in_channels", "size", "start"),
    [((32, 16), 1, 8, (4, 4)), ((32, 16, 8), 1, 28, (7, 7)), ((32, 16, 8), 3, 32, (8, 8))],
)
def test_shapes_and_ranges(channels, in_channels, size, start):
    config = GanConfig(latent_dim=8, channels=channels)
    generator, discriminator = _pair(config, in_channels, size)
    assert start_size(config, size) == start
    z = 3 * torch.randn(5, 8)
    with torch.no_grad():
        x = generator(z)
        logits = discriminator(x)
    assert x.shape == (5, in_channels, size, size)
    assert x.abs().max() < 1  # tanh
    assert logits.shape == (5,) and torch.isfinite(logits).all()


def test_size_and_config_errors():
    config = GanConfig(channels=(16, 8, 4))  # doubles twice: multiples of 4
    with pytest.raises(ValueError, match="multiples of 4; got 30x30"):
        Generator(config, 1, 30)
    with pytest.raises(ValueError, match="multiples of 4; got 8x6"):
        Discriminator(config, 1, (8, 6))
    with pytest.raises(ValueError, match="channels"):
        GanConfig(channels=())
    with pytest.raises(ValueError, match="latent_dim"):
        GanConfig(latent_dim=0)
    with pytest.raises(ValueError, match="spectral_norm"):
        GanConfig(spectral_norm="yes")
    discriminator = Discriminator(config, 1, 8)
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        discriminator(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"\(n, 16\)"):
        Generator(config, 1, 8)(torch.zeros(2, 3))


def test_batch_norm_and_spectral_norm_switches():
    plain = GanConfig(channels=(16, 8), spectral_norm=False, batch_norm=False)
    generator, discriminator = _pair(plain, 1, 8)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator.modules())
    assert not any(nn.utils.parametrize.is_parametrized(m) for m in discriminator.modules())
    generator, discriminator = _pair(GanConfig(channels=(16, 8)), 1, 8)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in generator.modules()) == 2
    layers = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert len(layers) == 3 and all(nn.utils.parametrize.is_parametrized(m) for m in layers)


def test_spectral_norm_gives_unit_largest_singular_value():
    _, discriminator = _pair(GanConfig(channels=(16, 8)), 1, 8)
    x = torch.randn(4, 1, 8, 8)
    for _ in range(30):  # one power iteration per forward call in train mode
        discriminator(x)
    layers = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    for layer in layers:
        w = layer.weight.detach().flatten(1)  # the normalised weight, (out, in * k * k)
        # Power iteration converges geometrically in (sigma_2 / sigma_1)^2 per step.
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=1e-3)


def test_logit_independent_of_batch():
    generator, discriminator = _pair(GanConfig(channels=(16, 8)), 1, 8)
    discriminator.eval()
    x = torch.randn(6, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(discriminator(x)[:2], discriminator(x[:2]))


def test_save_load_round_trip(tmp_path):
    config = GanConfig(latent_dim=4, channels=(16, 8, 4), spectral_norm=True, batch_norm=True)
    generator, discriminator = _pair(config, 3, (8, 16))
    generator(torch.randn(7, 4))  # move BatchNorm statistics and the spectral-norm vectors
    discriminator(torch.randn(7, 3, 8, 16))
    generator.eval(), discriminator.eval()
    path = tmp_path / "gan.pt"
    save_gan(path, generator, discriminator, (8, 16), dataset="digits")
    g2, d2, meta = load_gan(path)
    assert meta == {"dataset": "digits"} and g2.config == config
    assert not g2.training and not d2.training
    z, x = torch.randn(5, 4), torch.randn(5, 3, 8, 16)
    with torch.no_grad():
        assert torch.equal(g2(z), generator(z))
        assert torch.equal(d2(x), discriminator(x))
    with pytest.raises(ValueError, match="image_size"):
        save_gan(path, generator, discriminator, 8)
