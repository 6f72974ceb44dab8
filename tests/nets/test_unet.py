"""UNet on (x, t): shapes and size errors, time conditioning (only through the residual layers'
time MLPs), BatchNorm modes, exact parameter count, and a short flow-matching fit."""

import pytest
import torch

from lib.flows.flow_matching import cfm_loss, draw_batch
from lib.nets.unet import (
    ResidualLayer,
    UNet,
    UNetConfig,
    build_unet,
    count_parameters,
    load_unet,
    save_unet,
)
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule
from lib.training.loop import train


def _net(*args, **kwargs) -> UNet:
    torch.manual_seed(0)
    return UNet(*args, **kwargs)


@pytest.mark.parametrize(
    ("channels", "in_channels", "size"),
    [([16, 32], 1, 8), ([8, 16, 32], 1, 28), ([8, 16, 32], 1, 32), ([8, 16, 32], 3, 32)],
)
def test_output_shape_equals_input_shape(channels, in_channels, size):
    net = _net(in_channels, channels, image_size=size).eval()
    x = torch.randn(3, in_channels, size, size)
    for t in (torch.tensor(0.4), torch.full((3,), 0.4), torch.full((3, 1), 0.4)):
        assert net(x, t).shape == x.shape


def test_channels_last_weights_compute_the_same_function():
    """The convolution weights are NHWC (a speed choice); a copy with the usual NCHW weights
    gives the same outputs and gradients up to float32 rounding, in both BatchNorm modes."""
    net = _net(1, [8, 16], image_size=8)

    def layouts_differ(m):  # NCHW and NHWC are one layout for one channel or a 1x1 kernel
        return isinstance(m, torch.nn.Conv2d) and m.in_channels > 1 and m.kernel_size != (1, 1)

    weights = [m.weight for m in net.modules() if layouts_differ(m)]
    assert weights and all(
        w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
        for w in weights
    )
    plain = _net(1, [8, 16], image_size=8)
    plain.load_state_dict(net.state_dict())
    plain.to(memory_format=torch.contiguous_format)
    assert all(m.weight.is_contiguous() for m in plain.modules() if layouts_differ(m))
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.rand(6, generator=torch.Generator().manual_seed(2))
    for mode in (True, False):
        net.train(mode), plain.train(mode)
        a, b = net(x, t), plain(x, t)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        ga = torch.autograd.grad(a.square().sum(), net.initial.weight)[0]
        gb = torch.autograd.grad(b.square().sum(), plain.initial.weight)[0]
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-5)


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="multiples of 4; got 30x30"):
        UNet(1, [8, 16, 32], image_size=30)  # at construction when the size is given
    net = UNet(1, [8, 16, 32]).eval()
    with pytest.raises(ValueError, match="multiples of 4; got 28x30"):
        net(torch.randn(2, 1, 28, 30), torch.tensor(0.5))  # else at the forward call
    with pytest.raises(ValueError, match=r"shape \(n, 1, H, W\)"):
        net(torch.randn(2, 3, 8, 8), torch.tensor(0.5))
    with pytest.raises(ValueError, match="t has 3 entries but x has batch size 2"):
        net(torch.randn(2, 1, 8, 8), torch.rand(3))
    with pytest.raises(ValueError, match="even"):
        UNetConfig(channels=[8, 16], time_dim=7)
    with pytest.raises(ValueError, match="non-empty"):
        UNetConfig(channels=[])


def test_time_conditioning_in_eval_mode():
    net = _net(1, [8, 16]).eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        out = net(x, torch.tensor(0.3))
        assert torch.allclose(net(x, torch.full((4,), 0.3)), out, atol=1e-6)
        assert (net(x, torch.tensor(0.8)) - out).abs().max() > 1e-3
        # Per-sample times: in eval mode each image sees only its own time.
        t = torch.tensor([0.1, 0.3, 0.5, 0.9])
        mixed = net(x, t)
        for i in range(4):
            assert torch.allclose(mixed[i], net(x, t[i])[i], atol=1e-6)


def test_time_enters_only_through_the_residual_time_mlps():
    net = _net(1, [8, 16]).eval()
    x = torch.randn(4, 1, 8, 8)
    time_mlps = [m.time_mlp for m in net.modules() if isinstance(m, ResidualLayer)]
    assert len(time_mlps) == 2 + 3 + 2  # encoder, bottleneck, decoder layers
    with torch.no_grad():
        assert not torch.equal(net(x, torch.tensor(0.1)), net(x, torch.tensor(0.9)))
        for mlp in time_mlps:
            for linear in mlp[0], mlp[2]:
                linear.weight.zero_()
        assert torch.equal(net(x, torch.tensor(0.1)), net(x, torch.tensor(0.9)))


def test_batchnorm_modes_and_eval_determinism():
    net = _net(1, [8, 16])
    x, t = torch.randn(6, 1, 8, 8), torch.tensor(0.5)
    with torch.no_grad():
        # Train mode normalises with batch statistics: image 0's output depends on the others.
        assert not torch.allclose(net(x, t)[:3], net(x[:3], t), atol=1e-4)
        net.eval()
        assert torch.equal(net(x, t), net(x, t))
        assert torch.allclose(net(x, t)[:3], net(x[:3], t), atol=1e-6)


def _residual_params(c_in: int, c_out: int, e: int) -> int:
    """BN + 3x3 conv, time MLP (e -> e -> c_out), BN + 3x3 conv, 1x1 conv if the channels change."""
    block_1 = 2 * c_in + 9 * c_in * c_out + c_out
    time_mlp = e * e + e + e * c_out + c_out
    block_2 = 2 * c_out + 9 * c_out * c_out + c_out
    skip = c_in * c_out + c_out if c_in != c_out else 0
    return block_1 + time_mlp + block_2 + skip


def _unet_params(in_c: int, ch: list[int], n_res: int, n_bottleneck: int, e: int) -> int:
    total = (e + 2) * e + e * e + e  # Fourier features [t, sin, cos] (e + 1) -> e -> e
    total += 9 * in_c * ch[0] + ch[0] + 9 * ch[0] * in_c + in_c  # initial and final convs
    for c, c_next in zip(ch[:-1], ch[1:]):
        total += n_res * _residual_params(c, c, e)  # encoder
        total += 2 * (9 * c * c_next) + c_next + c  # stride-2 conv down, 3x3 conv after upsampling
        total += _residual_params(2 * c, c, e) + (n_res - 1) * _residual_params(c, c, e)  # decoder
    return total + n_bottleneck * _residual_params(ch[-1], ch[-1], e)


def test_parameter_count():
    # channels [2, 4], one layer per stage, time_dim 2, by hand: time embedding 8 + 6,
    # initial conv 20, encoder 42 + 12 + 42, down 76, bottleneck 156 + 18 + 156, up 74,
    # decoder (4 -> 2) 82 + 12 + 42 + 10 (1x1 conv), final conv 19.
    tiny = UNet(1, [2, 4], n_res_per_level=1, n_bottleneck=1, time_dim=2)
    assert count_parameters(tiny) == 775 == _unet_params(1, [2, 4], 1, 1, 2)
    counts = {}
    for in_c, ch in [(1, [16, 32]), (1, [32, 64]), (1, [32, 64, 128]), (3, [8, 16, 32, 64])]:
        counts[in_c, tuple(ch)] = count_parameters(UNet(in_c, ch))
        assert counts[in_c, tuple(ch)] == _unet_params(in_c, ch, 2, 3, 40)
    assert counts[1, (16, 32)] == 108_481 < counts[1, (32, 64)] == 373_681
    assert counts[1, (32, 64, 128)] == 1_552_657
    config = UNetConfig(channels=[16, 32], n_res_per_level=1, n_bottleneck=2, time_dim=8)
    assert config.channels == (16, 32)  # a list from params becomes a (hashable) tuple
    net = build_unet(config, in_channels=3, image_size=(8, 16))
    assert count_parameters(net) == _unet_params(3, [16, 32], 1, 2, 8)


def _patterns(n: int, generator: torch.Generator) -> torch.Tensor:
    """n 8x8 images in {-1, 1} from 4 fixed patterns (top half, left half, diagonal band,
    2x2 checkerboard) plus N(0, 0.1^2) noise: (n, 1, 8, 8)."""
    i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    masks = [i < 4, j < 4, (i - j).abs() <= 1, (i // 2 + j // 2) % 2 == 0]
    base = torch.stack([2.0 * m.float() - 1 for m in masks])  # (4, 8, 8)
    idx = torch.randint(0, 4, (n,), generator=generator)
    return (base[idx] + 0.1 * torch.randn(n, 8, 8, generator=generator))[:, None]


def test_short_flow_matching_fit_reduces_the_loss():
    gen = torch.Generator().manual_seed(0)
    data = _patterns(512, gen)
    path = GaussianPath(make_schedule("linear"))
    net = _net(1, [16, 32])  # the default depths: 2 residual layers per level, 3 in the bottleneck
    result = train(
        net,
        lambda it: cfm_loss(net, path, *draw_batch(data, 64, gen)),
        n_iters=150,
        lr=3e-3,
        generators=[gen],
        progress=False,
    )
    first, last = result.train_loss[:20], result.train_loss[-20:]
    # Measured (seeds 0 and 1): mean loss 68.9 / 69.4 over the first 20 steps (a zero field would
    # score E|z - noise|^2 = 64 (1 + 1.01) = 129), 27.4 / 28.2 over the last 20: ratio 0.40.
    assert sum(last) / 20 < 0.5 * sum(first) / 20


def test_save_and_load_round_trip(tmp_path):
    net = _net(1, [8, 16], 1, 1, 8, image_size=8).eval()
    save_unet(tmp_path / "u.pt", net, (8, 8), schedule="cosine", target="noise")
    loaded, meta = load_unet(tmp_path / "u.pt")
    assert meta == {"schedule": "cosine", "target": "noise"}
    assert not loaded.training and loaded.config == net.config
    x, t = torch.randn(4, 1, 8, 8), torch.rand(4)
    assert torch.equal(loaded(x, t), net(x, t))
