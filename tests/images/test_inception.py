"""Inception features: shapes, determinism, gray = its RGB replication, the level mapping, and the
error for missing weights. The network has random weights saved to a temporary file (nothing is
downloaded); 2 tiny images per call keep the 299x299 network fast on CPU."""

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as fidelity_inception
from torch import nn

from lib.images.inception import WEIGHTS_FILE, inception_features, load_inception, to_uint8


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """load_inception of a weights file of the right architecture with random weights."""
    with pytest.MonkeyPatch.context() as mp:  # the constructor's download, and its load, made inert
        mp.setattr(fidelity_inception, "load_state_dict_from_url", lambda *a, **k: {})
        mp.setattr(fidelity_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda *a: 0)
        torch.manual_seed(0)
        random_net = fidelity_inception.FeatureExtractorInceptionV3("random", ["2048"])
    for m in random_net.modules():  # He init keeps the 2048 features of order 1 through ReLUs
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save(random_net.state_dict(), path)
    return load_inception(path)


@pytest.fixture(scope="module")
def gray():
    """Two 8x8 one-channel images in 0..16 (the digits' 17 levels)."""
    return torch.randint(0, 17, (2, 1, 8, 8), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def gray_features(model, gray):
    return inception_features(model, gray, n_levels=17)


def test_features_shape_and_determinism(model, gray, gray_features):
    f = gray_features
    assert f.shape == (2, 2048) and f.dtype == torch.float32 and f.device.type == "cpu"
    assert f.abs().mean() > 1e-2 and not torch.equal(f[0], f[1])  # distinct, not vanishing
    assert torch.equal(f, inception_features(model, gray, n_levels=17))


def test_gray_equals_its_rgb_replication(model, gray, gray_features):
    rgb = gray.repeat(1, 3, 1, 1)
    assert torch.equal(inception_features(model, rgb, n_levels=17), gray_features)


def test_levels_map_to_the_same_bytes(model, gray, gray_features):
    """K = 17 levels and their K = 256 equivalents round(x 255 / 16) give the same features."""
    bytes_ = torch.round(gray * 255 / 16).long()
    assert torch.equal(to_uint8(gray, 17), bytes_.to(torch.uint8))
    assert torch.equal(inception_features(model, bytes_, n_levels=256), gray_features)


def test_to_uint8_end_points():
    assert to_uint8(torch.tensor([0, 8, 16]), 17).tolist() == [0, 128, 255]
    assert to_uint8(torch.tensor([0, 1]), 2).tolist() == [0, 255]
    with pytest.raises(ValueError, match="0..16"):
        to_uint8(torch.tensor([17]), 17)


def test_bad_channels_raise(model):
    with pytest.raises(ValueError, match=r"C = 1 or 3 channels, got shape \(2, 2, 8, 8\)"):
        inception_features(model, torch.zeros(2, 2, 8, 8, dtype=torch.long), n_levels=17)


def test_missing_weights_say_what_to_do(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError) as err:
        load_inception(missing)
    message = str(err.value)
    for needed in (str(missing), "nothing is downloaded", WEIGHTS_FILE, "sample.inception.weights"):
        assert needed in message
