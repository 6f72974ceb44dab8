"""What every stage entry point shares: validated params, device, timing, metrics written last."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lib.infra import layout, phases
from lib.infra.device import get_device
from lib.infra.io import write_json
from lib.params import ParamsError, Section, load_params

RESULTS = layout.RESULTS


def run_stage(
    stage: str, body: Callable[[Section, torch.device, Path], dict], threads: int | None = None
) -> None:
    """Validate params (exit 2 with the message on failure), run `body`, write its metrics.

    `body(params, device, out_dir)` writes its artefacts under out_dir and returns the metrics;
    device, run time, its split into phases (`lib.infra.phases`) and versions are added, and
    metrics.json is written last, so a killed
    stage never leaves a metrics file behind. `threads` caps PyTorch's CPU threads: tiny models
    (1D flows) run far faster on one thread than on several competing for small kernels.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        params = load_params(stage)
        device = get_device()
    except (ParamsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    out_dir = RESULTS / stage
    (out_dir / "metrics.json").unlink(missing_ok=True)
    phases.reset()
    start = time.perf_counter()
    metrics = body(params, device, out_dir)
    write_json(out_dir / "params.json", params.model_dump())
    runtime = time.perf_counter() - start
    run = {"device": str(device), "runtime_s": round(runtime, 2)}
    recorded = phases.totals()
    in_this_process = sum(v for k, v in recorded.items() if not k.startswith("workers/"))
    run["phases_s"] = {**recorded, "other": round(max(0.0, runtime - in_this_process), 2)}
    run["host"] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    write_json(out_dir / "metrics.json", {**metrics, "run": run})


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on `device`; the same seed gives the same numbers on the same machine."""
    return torch.Generator(device=device).manual_seed(seed)


def value_key(name: str, value: float) -> str:
    """A metrics key for a swept value without dots (DVC flattens keys on '.'): sigma_0p5."""
    return f"{name}_{value:g}".replace(".", "p").replace("-", "m")
