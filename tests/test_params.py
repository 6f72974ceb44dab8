"""Params validation: bad keys, types and values are refused with the key, value and allowed."""

import copy
from pathlib import Path

import pytest
import yaml

from lib.params import ParamsError, load_all, load_params, stages, validate_section

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.mark.parametrize("stage", stages())
def test_default_params_are_valid(stage):
    assert validate_section(stage, PARAMS[stage]).model_dump() == PARAMS[stage]


def _error(stage: str, edit) -> str:
    section = copy.deepcopy(PARAMS[stage])
    edit(section)
    with pytest.raises(ParamsError) as info:
        validate_section(stage, section)
    return str(info.value)


def test_unknown_key_is_named():
    msg = _error("primer", lambda s: s["brownian"].update(n_stepz=5))
    assert "primer.brownian.n_stepz" in msg and "unknown key" in msg


def test_wrong_type_is_named_with_value():
    msg = _error("primer", lambda s: s["ou"].update(n_steps="many"))
    assert "primer.ou.n_steps = 'many'" in msg and "integer" in msg


def test_non_positive_step_count():
    msg = _error("primer", lambda s: s["brownian"].update(n_steps=0))
    assert "primer.brownian.n_steps = 0" in msg and "greater than 0" in msg


def test_unknown_dataset_lists_allowed():
    msg = _error("data", lambda s: s["one_d"].update(datasets=["gaussian", "cauchy"]))
    assert "data.one_d.datasets.1 = 'cauchy'" in msg and "'laplace_mixture'" in msg
    msg = _error("data", lambda s: s["images"].update(dataset="imagenet"))
    assert "data.images.dataset = 'imagenet'" in msg and "'mnist'" in msg


def test_torchvision_dataset_needs_root():
    msg = _error("data", lambda s: s["images"].update(dataset="mnist", root=None))
    assert "data.images" in msg and "root" in msg


def test_langevin_mixture_lengths_must_agree():
    msg = _error("primer", lambda s: s["langevin"].update(stds=[1.0]))
    assert "same length" in msg


def test_flow2d_cross_checks():
    msg = _error("flow2d", lambda s: s.update(main_variant="best"))
    assert "main_variant 'best' is not one of variants" in msg
    msg = _error("flow2d", lambda s: s["variants"][s["main_variant"]].update(seeds=[7]))
    assert "leave its seeds null" in msg
    msg = _error("flow2d", lambda s: s.update(dataset="moons"))
    assert "no exact density" in msg and "'gmm5_circle'" in msg


def test_transport_pairs_and_networks():
    msg = _error("transport", lambda s: s.update(pairs=[["cats"]]))
    assert "transport.pairs.0" in msg
    msg = _error("transport", lambda s: s.update(pairs=[["cats", "wolves"]]))
    assert "transport.pairs.0.1 = 'wolves'" in msg and "'dogs'" in msg
    msg = _error("transport", lambda s: s["network"].update(activation="sigmoidal"))
    assert "transport.network.activation = 'sigmoidal'" in msg


def test_bits_per_dim_needs_two_hutchinson_solves():
    msg = _error("bits_per_dim", lambda s: s.update(n_repeats=1))
    assert "bits_per_dim.n_repeats = 1" in msg and "greater than or equal to 2" in msg


def test_missing_key_and_several_errors_reported_together():
    def edit(s):
        del s["seed"]
        s["brownian"]["t_end"] = -1.0

    msg = _error("primer", edit)
    assert "primer.seed = <missing>" in msg and "primer.brownian.t_end = -1.0" in msg


def test_malformed_yaml_and_missing_section(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("primer: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params("primer", bad)
    bad.write_text("data: {}\n")
    with pytest.raises(ParamsError, match="missing section 'primer'"):
        load_params("primer", bad)


def test_dvc_yaml_declares_whole_sections():
    """A stage declares its whole section, so any edit of it (a misspelt key included) re-runs
    the stage and reaches its validation, and the keys it reads from other sections;
    check_params declares the whole file."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for stage in stages():
        own, *others = dvc["stages"][stage]["params"]
        assert own == stage, stage
        # keys of other sections a stage reads (sample_score_sde rebuilds sample's yardstick)
        for key in others:
            section = key.split(".")[0]
            assert section in stages() and section != stage and "." in key, (stage, key)
        deps = dvc["stages"][stage]["deps"]  # its own schema module, and the shared one
        assert f"lib/params/{stage}.py" in deps and "lib/params/__init__.py" in deps, stage
    assert dvc["stages"]["check_params"]["params"] == [{"params.yaml": None}]
    assert set(dvc["stages"]) == {*stages(), "check_params"}


def test_unknown_top_level_section_is_refused(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump({**PARAMS, "sampel": {"n_images": 10}}))
    for load in (lambda: load_params("primer", bad), lambda: load_all(bad)):
        with pytest.raises(ParamsError, match=r"unknown top-level section\(s\) \['sampel'\]"):
            load()


def test_load_all_reports_every_section_together(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["primer"]["ou"]["n_steps"] = -5
    params["ode_fit"]["n_iter"] = 500
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError) as err:
        load_all(bad)
    assert "primer.ou.n_steps = -5" in str(err.value)
    assert "ode_fit.n_iter = 500: unknown key" in str(err.value)
    assert set(load_all(ROOT / "params.yaml")) == set(stages())


def test_sample_sde_sweep_cross_checks():
    msg = _error("sample", lambda s: s["sde"]["sweep"].update(sigma=3.0))
    assert "sample.sde" in msg and "sweep.sigma = 3.0 is not one of sigmas" in msg
    msg = _error("sample", lambda s: s["sde"]["sweep"].update(n_steps=[10, s["sde"]["n_steps"]]))
    assert "sweep.n_steps" in msg and "distinct step counts other than n_steps" in msg
    off = copy.deepcopy(PARAMS["sample"])
    off["sde"]["sweep"] = None
    assert validate_section("sample", off).sde.sweep is None


def test_sample_yardstick_and_exact_solver_checks():
    msg = _error("sample", lambda s: s.update(n_images=5))
    assert "n_images = 5 must be at least yardstick.n_groups = 20" in msg
    msg = _error("sample", lambda s: s["exact"].update(method="rk45"))
    assert "sample.exact.method = 'rk45'" in msg and "dopri5" in msg
    msg = _error("sample", lambda s: s["yardstick"].update(level=1.5))
    assert "sample.yardstick.level = 1.5" in msg
    msg = _error("sample", lambda s: s.update(inception={"weights": 3, "batch_size": 10}))
    assert "sample.inception.weights = 3" in msg
