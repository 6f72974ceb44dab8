"""Stage check_params: validate all of params.yaml whenever any of it changes.

Every other stage declares its whole section, so an edit of it (a misspelt key included) reaches
that stage's validation; this stage declares the whole file, so an unknown or misspelt top-level
section fails here too instead of being read by no stage. It writes every section as validated.
"""

from __future__ import annotations

import sys

from lib.infra import layout
from lib.infra.io import write_json
from lib.params import ParamsError, load_all


def main() -> None:
    try:
        sections = load_all()
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    validated = {stage: section.model_dump() for stage, section in sections.items()}
    write_json(layout.results("check_params") / "params.json", validated)


if __name__ == "__main__":
    main()
