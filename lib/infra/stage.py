"""What every stage entry point shares: validated params, device, timing, metrics written last."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lib.infra import layout, phases
from lib.infra.device import get_device
from lib.infra.distributed import World, n_processes_requested, process_group, world_from_env
from lib.infra.io import write_json
from lib.params import ParamsError, Section, load_params

RESULTS = layout.RESULTS


def run_stage(
    stage: str,
    body: Callable[[Section, torch.device, Path], dict],
    threads: int | None = None,
    distributed: bool = False,
) -> None:
    """Validate params (exit 2 with the message on failure), run `body`, write its metrics.

    `body(params, device, out_dir)` writes its artefacts under out_dir and returns the metrics;
    device, run time, its split into phases (`lib.infra.phases`) and versions are added, and
    metrics.json is written last, so a killed
    stage never leaves a metrics file behind. `threads` caps PyTorch's CPU threads: tiny models
    (1D flows) run far faster on one thread than on several competing for small kernels.

    distributed=True: a stage whose trainings run data-parallel (`lib.infra.distributed`).
    NPROC=N > 1 in the environment starts it again as N processes under `torchrun --standalone`
    (the one switch; the world size is never a param); under torchrun (RANK, WORLD_SIZE set)
    every rank runs `body` inside the process group, on GPU LOCAL_RANK where there are GPUs,
    and rank 0 alone writes params.json and metrics.json (`body` writes on rank 0 alone too).
    The other stages run in one process whatever NPROC says, so that `NPROC=2 dvc repro` serves
    a whole pipeline.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        params = load_params(stage)
        device = get_device()
        world = world_from_env()
        nproc = n_processes_requested() if distributed else 1
        if not distributed and world.size > 1:
            raise ValueError(f"stage {stage} runs in one process: launch it without torchrun")
    except (ParamsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if nproc > 1 and world.size == 1:  # not under torchrun yet: become N ranks
        sys.stdout.flush()
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        os.execv(sys.executable, [*launcher, f"--nproc_per_node={nproc}", "-m", f"stages.{stage}"])
    if device.type == "cuda" and world.size > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", world.rank)))
        torch.cuda.set_device(device)
    with process_group(world, device):
        _run(stage, body, params, device, world)


def _run(stage: str, body, params: Section, device: torch.device, world: World) -> None:
    """body, timed by phases; metrics and params written last, by rank 0 alone."""
    out_dir = RESULTS / stage
    if world.is_main:
        (out_dir / "metrics.json").unlink(missing_ok=True)
    phases.reset()
    start = time.perf_counter()
    metrics = body(params, device, out_dir)
    if not world.is_main:
        return
    write_json(out_dir / "params.json", params.model_dump())
    runtime = time.perf_counter() - start
    run = {"device": str(device), "processes": world.size, "runtime_s": round(runtime, 2)}
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
