"""run_stage: params validated before any work, metrics written last, never a stale metrics file."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from lib.infra import stage as stage_mod
from lib.infra.stage import run_stage, seeded_generator, value_key

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory with a params.yaml holding the repo's primer section only; results
    go to tmp_path/results so nothing in the repository is touched."""
    primer = yaml.safe_load(REPO_PARAMS.read_text())["primer"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"primer": primer}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage_mod, "RESULTS", tmp_path / "results")
    monkeypatch.setenv("DEVICE", "cpu")
    return tmp_path


def _set_primer(workdir: Path, edit) -> None:
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    edit(params["primer"])
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))


def _never_called(params, device, out_dir):
    raise AssertionError("the body ran although the params are invalid")


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda p: p["brownian"].update(t_end=-1.0), "primer.brownian.t_end"),
        (lambda p: p.update(sede=1), "primer.sede"),  # misspelt key
        (lambda p: p["solvers"].update(methods=["euler", "rk3"]), "primer.solvers.methods"),
        (lambda p: p.pop("seed"), "primer.seed"),
    ],
    ids=["negative_t_end", "misspelt_key", "unknown_method", "missing_seed"],
)
def test_bad_params_exit_2_naming_the_key_before_the_body(workdir, capsys, edit, key):
    _set_primer(workdir, edit)
    with pytest.raises(SystemExit) as exc:
        run_stage("primer", _never_called)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert key in err
    assert not (workdir / "results").exists()


def test_bad_device_exits_2(workdir, capsys, monkeypatch):
    monkeypatch.setenv("DEVICE", "tpu-please")
    with pytest.raises(SystemExit) as exc:
        run_stage("primer", _never_called)
    assert exc.value.code == 2
    assert "DEVICE='tpu-please'" in capsys.readouterr().err


def test_missing_section_exits_2(workdir, capsys):
    (workdir / "params.yaml").write_text(yaml.safe_dump({}))
    with pytest.raises(SystemExit) as exc:
        run_stage("primer", _never_called)
    assert exc.value.code == 2
    assert "'primer'" in capsys.readouterr().err


def test_success_writes_body_metrics_run_record_and_params(workdir):
    seen = {}

    def body(params, device, out_dir):
        seen.update(seed=params.seed, device=device, out_dir=out_dir)
        out_dir.mkdir(parents=True)
        (out_dir / "artefact.txt").write_text("x")
        # metrics.json is written after the body returns, never before
        assert not (out_dir / "metrics.json").exists()
        return {"order": 1.5, "nested": {"a": [1, 2]}}

    run_stage("primer", body)
    out = workdir / "results" / "primer"
    assert seen == {"seed": 0, "device": torch.device("cpu"), "out_dir": out}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"order", "nested", "run"}
    assert metrics["order"] == 1.5
    assert metrics["nested"] == {"a": [1, 2]}
    run = metrics["run"]
    assert run["device"] == "cpu"
    assert isinstance(run["runtime_s"], float) and 0 <= run["runtime_s"] < 60
    assert run["host"]["torch"] == torch.__version__
    assert run["host"]["cpu_threads"] == torch.get_num_threads()
    assert set(run["host"]) >= {"python", "machine"}
    params = json.loads((out / "params.json").read_text())
    primer = yaml.safe_load((workdir / "params.yaml").read_text())["primer"]
    assert params == primer


def test_runtime_measures_the_body(workdir, monkeypatch):
    clock = iter([100.0, 103.456])
    monkeypatch.setattr(stage_mod.time, "perf_counter", lambda: next(clock))
    run_stage("primer", lambda p, d, o: {})
    metrics = json.loads((workdir / "results" / "primer" / "metrics.json").read_text())
    assert metrics["run"]["runtime_s"] == 3.46


def test_failing_body_leaves_no_metrics_not_even_a_stale_one(workdir):
    run_stage("primer", lambda p, d, o: {"old": 1})
    metrics = workdir / "results" / "primer" / "metrics.json"
    assert json.loads(metrics.read_text())["old"] == 1

    def body(params, device, out_dir):
        assert not metrics.exists()  # removed before the body starts
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_stage("primer", body)
    assert not metrics.exists()


def test_threads_sets_torch_threads(workdir):
    before = torch.get_num_threads()
    target = 2 if before != 2 else 1
    try:
        seen = []
        run_stage(
            "primer", lambda p, d, o: seen.append(torch.get_num_threads()) or {}, threads=target
        )
        assert seen == [target]
        metrics = json.loads((workdir / "results" / "primer" / "metrics.json").read_text())
        assert metrics["run"]["host"]["cpu_threads"] == target
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (0.5, "sigma_0p5"),
        (1.0, "sigma_1"),
        (2, "sigma_2"),
        (-1.0, "sigma_m1"),
        (-0.25, "sigma_m0p25"),
        (1e-05, "sigma_1em05"),
        (0.001, "sigma_0p001"),
    ],
)
def test_value_key(value, key):
    assert value_key("sigma", value) == key


def test_value_keys_of_a_sweep_are_distinct_and_dot_free():
    values = [-1.0, -0.5, 0.0, 1e-05, 1e-04, 0.05, 0.5, 1.0, 1.5, 10.0]
    keys = [value_key("sigma", v) for v in values]
    assert len(set(keys)) == len(values)
    assert all("." not in k for k in keys)


def test_seeded_generator_repeats_with_the_same_seed():
    cpu = torch.device("cpu")
    a = torch.randn(5, generator=seeded_generator(3, cpu))
    b = torch.randn(5, generator=seeded_generator(3, cpu))
    c = torch.randn(5, generator=seeded_generator(4, cpu))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert seeded_generator(3, cpu).device == cpu


def test_a_one_process_stage_refuses_torchrun_and_ignores_nproc(workdir, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as exc:
        run_stage("primer", _never_called)
    assert exc.value.code == 2
    assert "stage primer runs in one process: launch it without torchrun" in capsys.readouterr().err
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("NPROC", "2")  # read by the data-parallel stages only
    run_stage("primer", lambda params, device, out_dir: {"ok": 1})
    run = json.loads((workdir / "results" / "primer" / "metrics.json").read_text())["run"]
    assert run["processes"] == 1


def test_a_bad_nproc_exits_2_before_the_body(workdir, capsys, monkeypatch):
    monkeypatch.setenv("NPROC", "many")
    with pytest.raises(SystemExit) as exc:
        run_stage("primer", _never_called, distributed=True)
    assert exc.value.code == 2
    assert "NPROC = 'many'" in capsys.readouterr().err
