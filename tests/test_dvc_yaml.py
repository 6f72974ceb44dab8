"""dvc.yaml is in step with the code: each stage's lib deps are exactly the lib files it imports."""

import pytest
import yaml

from lib.infra import layout
from scripts.stage_deps import ROOT, declared, lib_deps

SPEC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


@pytest.mark.parametrize("stage", sorted(SPEC["stages"]))
def test_stage_declares_exactly_the_lib_files_it_imports(stage):
    # a missing dep lets an edit go unnoticed; an extra one re-runs the stage for nothing
    assert declared(SPEC, stage) == lib_deps(stage), "run `python -m scripts.stage_deps --write`"


def test_plot_modules_are_per_section():
    # one figure's edit re-runs only its stage: no stage but sample imports the sample figures
    users = [s for s in SPEC["stages"] if "lib/plots/sampling.py" in lib_deps(s)]
    assert users == ["sample"]


@pytest.mark.parametrize("stage", sorted(SPEC["stages"]))
def test_outs_live_where_layout_puts_them(stage):
    # a stage writes under its own results/ and models/ folders (the data stage under data/)
    own = [f"{layout.results(stage)}/", f"{layout.MODELS / stage}"]
    if stage == "data":
        own.append(f"{layout.DATA}/")
    for out in SPEC["stages"][stage]["outs"]:
        path = out if isinstance(out, str) else next(iter(out))
        assert any(path.startswith(prefix) for prefix in own), (stage, path)
