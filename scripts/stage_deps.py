"""The lib modules each stage imports, transitively: what its `deps` in dvc.yaml must list.

`python -m scripts.stage_deps` prints the stages whose declared lib deps differ from their
imports; `--write` rewrites those lines of dvc.yaml in place (other deps and comments are kept).
tests/test_dvc_yaml.py asserts that nothing differs, so a change to one lib module re-runs
exactly the stages that import it.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = ("lib", "report")  # packages whose imports are followed; only lib/ files become deps


def _module_file(dotted: str) -> Path | None:
    base = ROOT / Path(*dotted.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imports(path: Path) -> set[str]:
    """Dotted modules of this repository (lib, and report, whose lib imports count too) one file
    imports (`from lib.x import y` adds lib.x.y if a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(OWN))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(OWN):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    modules = set()
    for name in found:
        parts = name.split(".")
        # every package on the way is imported too (its __init__ runs)
        for i in range(1, len(parts) + 1):
            if _module_file(".".join(parts[:i])) is not None:
                modules.add(".".join(parts[:i]))
    return modules


def lib_deps(stage: str) -> list[str]:
    """Repository-relative paths of the lib files stages/<stage>.py loads, non-empty ones only."""
    seen: set[Path] = set()
    todo = [ROOT / "stages" / f"{stage}.py"]
    # schemas are imported by name (lib.params.schema): a stage's own, or all for check_params
    pattern = "[!_]*.py" if stage == "check_params" else f"{stage}.py"
    for schema in (ROOT / "lib" / "params").glob(pattern):
        seen.add(schema)
        todo.append(schema)
    while todo:
        path = todo.pop()
        for mod in _imports(path):
            f = _module_file(mod)
            if f is not None and f not in seen:
                seen.add(f)
                todo.append(f)
    return sorted(
        str(f.relative_to(ROOT))
        for f in seen
        if f.read_text().strip() and f.relative_to(ROOT).parts[0] == "lib"
    )


def declared(dvc_yaml: dict, stage: str) -> list[str]:
    deps = dvc_yaml["stages"][stage].get("deps", [])
    return sorted(d for d in deps if isinstance(d, str) and d.startswith("lib/"))


def _rewrite(text: str, stage: str, wanted: list[str]) -> str:
    """Replace the lib/ lines of one stage's deps block, keeping the others in place."""
    block = re.search(rf"^  {stage}:\n(?:^(?:    .*|\s*)\n)*", text, re.M)
    head = block.group(0)
    deps = re.search(r"^    deps:\n((?:^      - .*\n)*)", head, re.M)
    lines = [ln for ln in deps.group(1).splitlines(keepends=True) if "- lib/" not in ln]
    stage_line = [ln for ln in lines if "- stages/" in ln]
    rest = [ln for ln in lines if ln not in stage_line]
    new = "".join(stage_line + [f"      - {w}\n" for w in wanted] + rest)
    head2 = head[: deps.start(1)] + new + head[deps.end(1) :]
    return text[: block.start()] + head2 + text[block.end() :]


def main(argv: list[str]) -> int:
    import yaml

    path = ROOT / "dvc.yaml"
    text = path.read_text()
    spec = yaml.safe_load(text)
    stale = {}
    for stage in spec["stages"]:
        wanted = lib_deps(stage)
        if declared(spec, stage) != wanted:
            stale[stage] = wanted
    for stage, wanted in stale.items():
        print(f"{stage}: {' '.join(wanted)}")
        if "--write" in argv:
            text = _rewrite(text, stage, wanted)
    if "--write" in argv:
        path.write_text(text)
    return 1 if stale and "--write" not in argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
