"""The VE / VP image score models: sigma_max from the data, schedules from params, save and load."""

import math

import pytest
import torch

from lib.images import score_sde_models as m
from lib.nets.unet import UNetConfig, save_unet
from lib.params import load_params
from lib.paths.schedules import VESchedule, VPSchedule


def test_largest_pairwise_distance_is_that_of_the_extreme_images():
    k = 17
    images = torch.zeros(3, 1, 2, 2, dtype=torch.uint8)
    images[1] = k - 1  # all white: bin centres -1 + 1/K and 1 - 1/K, 4 pixels apart by 2 - 2/K
    images[2, 0, 0, 0] = 5
    want = 2 * (2 - 2 / k)  # sqrt(4 (2 - 2/K)^2)
    assert m.largest_pairwise_distance(images, k) == pytest.approx(want)


def test_schedule_settings_follow_the_params(digits):
    p = load_params("train_score_sde")
    images = torch.as_tensor(digits.train.images)
    ve = m.schedule_settings(p, "ve", images, 17)
    if p.ve.sigma_max is None:
        assert ve["sigma_max"] == pytest.approx(m.largest_pairwise_distance(images, 17))
    assert VESchedule(**ve).prior_std == ve["sigma_max"] > ve["sigma_min"]
    assert VPSchedule(**m.schedule_settings(p, "vp", images, 17)).prior_std == 1.0
    with pytest.raises(ValueError, match="unknown SDE 'sub_vp'"):
        m.schedule_settings(p, "sub_vp", images, 17)


def test_a_saved_model_loads_with_its_schedule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = UNetConfig(channels=(4, 8), n_res_per_level=1, n_bottleneck=1, time_dim=8)
    schedule = {"sigma_min": 0.01, "sigma_max": 7.5}
    torch.manual_seed(0)
    model, sch = m.build_model("ve", schedule, config, 1, (8, 8))
    path = m.layout.model(m.STAGE, "ve")
    save_unet(path, model.net, (8, 8), target="noise", sde="ve", schedule=schedule)
    loaded, loaded_sch = m.load_score_model("ve", "cpu")
    assert loaded_sch == sch and math.isclose(loaded_sch.prior_std, 7.5)
    x, t = torch.randn(4, 1, 8, 8), torch.rand(4)
    torch.testing.assert_close(loaded(x, t), model.eval()(x, t))


def test_bits_spread_flags_images_worse_than_uniform_pixels():
    from lib.images.score_sde_likelihood import spread

    s = spread([1.5, 2.0, 2.5, 4.2, 1e9], 17)  # log2 17 = 4.09
    assert s["median"] == 2.5 and s["max"] == 1e9 and s["n_worse_than_uniform"] == 2
    assert s["uniform_bits_per_dim"] == pytest.approx(math.log2(17))
