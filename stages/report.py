"""Stage report: render report/templates from the stages' metrics and figures, compile the PDF."""

from __future__ import annotations

import shutil
import subprocess

from lib.infra.io import atomic_path, read_json
from lib.infra.stage import RESULTS, run_stage
from report.render import compile_pdf, render


def main(p, device, out):
    build = out / "build"
    shutil.rmtree(build, ignore_errors=True)
    stages = sorted(
        d.name for d in RESULTS.iterdir() if d.name != "report" and (d / "metrics.json").exists()
    )
    for stage in stages:
        if (RESULTS / stage / "figures").is_dir():
            shutil.copytree(RESULTS / stage / "figures", build / "figures" / stage)
    commit, dirty, epoch = _code_version()
    context = {
        "title": p.title,
        "author": p.author,
        "metrics": {s: read_json(RESULTS / s / "metrics.json") for s in stages},
        "params": {s: read_json(RESULTS / s / "params.json") for s in stages},
        "manifest": read_json(RESULTS / "data" / "manifest.json") if "data" in stages else {},
        "commit": commit,
        "dirty": dirty,
    }
    tex_path = build / "report.tex"
    with atomic_path(tex_path) as tmp:
        tmp.write_text(render(context))
    pdf = compile_pdf(tex_path, epoch)
    if pdf is not None:
        print(f"report: {pdf}")
    return {"pdf_written": int(pdf is not None), "n_stages_reported": len(stages)}


# What makes the numbers: uncommitted changes here make the report say so. The pipeline's own
# outputs (results/, dvc.lock), which `dvc repro` rewrites while this stage runs, do not count.
SOURCES = ("lib", "stages", "report", "params.yaml", "dvc.yaml", "pyproject.toml")


def _code_version() -> tuple[str, bool, int]:
    """(commit, uncommitted changes to the tracked code or params (`SOURCES`), commit time)."""

    def git(*args):
        r = subprocess.run(["git", *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *SOURCES))
    epoch = int(git("log", "-1", "--format=%ct") or 0)
    return commit, dirty, epoch


if __name__ == "__main__":
    run_stage("report", main)
