"""End to end: the real `dvc repro` on tiny params in a temporary git repository.

Checks the report and metrics exist, that a second repro is a no-op, that editing one primer
param re-runs only primer and what gathers its metrics, that `dvc metrics diff` shows the change,
that a bad value, a misspelt key and a misspelt section are refused by name; then that a clone
on a "second machine" pulls every out from a DVC remote and reproduces nothing, and that a queued
two-experiment sweep runs side by side and travels between machines with exp push / pull; and
that the sampling re-run on two processes (NPROC=2, torchrun) gives the same images and a
training the one-process model.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.test_report import assert_claims_follow_their_intervals

ROOT = Path(__file__).resolve().parents[1]
COPY = ["lib", "stages", "report", "dvc.yaml", "params.yaml", "pyproject.toml", ".dvcignore"]

TINY_UNET = {"channels": [4, 8], "n_res_per_level": 1, "n_bottleneck": 1, "time_dim": 8}
TINY = {
    "primer": {
        "brownian": {
            "sigmas": [0.5, 1.0],
            "t_end": 1.0,
            "n_steps": 20,
            "n_paths_plot": 3,
            "n_paths_stats": 200,
        },
        "ou": {
            "thetas": [1.0, 2.0],
            "stationary_variance": 0.5,
            "x0s": [-2.0, 2.0],
            "t_end": 2.0,
            "n_steps": 40,
            "n_paths_plot": 2,
            "n_paths_stats": 200,
        },
        "langevin": {"n_steps": 60, "t_end": 3.0, "n_particles": 200, "n_snapshots": 3},
    },
    "data": {
        "one_d": {"n_train": 100, "n_val": 50, "n_test": 50},
        "two_d": {
            "n_train": 200,
            "n_val": 50,
            "n_test": 50,
            "datasets": ["gmm5_circle", "gmm8_circle", "moons", "cats", "dogs"],
        },
        "images": {"n_val": 50, "n_test": 50},
    },
    "ode_fit": {
        "seeds": [0, 1],
        "variant_seeds": [0],
        "networks": {"reference": {"hidden": [8]}, "standardized": {"hidden": [8]}},
        "train": {"n_iters": 12, "batch_size": 32, "eval_every": 6, "n_steps": 3, "val_n_steps": 3},
        "eval": {
            "n_steps": 8,
            "convergence_n_steps": [2, 4],
            "tight_n_steps": 16,
            "n_objective_batches": 2,
        },
    },
    "sde_fit": {
        "seeds": [0],
        "model": {"hidden": [8]},
        "train": {"n_iters": 12, "batch_size": 32, "eval_every": 6, "n_eval_samples": 2},
        "eval": {
            "n_samples": 4,
            "n_objective_batches": 2,
            "n_sde_steps": 10,
            "n_density_samples": 200,
        },
    },
    "complexity": {
        "n_steps": [2, 4],
        "methods": ["euler"],
        "batch_size": 16,
        "repeats": 1,
        "elbo_eval_draws": 2,
    },
    "flow2d": {
        "seeds": [0, 1],
        "network": {"hidden": [16, 16]},
        "corruption": {"n_points": 100},
        "variants": {
            "reference": {"n_iters": 20, "batch_size": 64},
            "tuned": {
                "n_iters": 20,
                "batch_size": 64,
                "finetune": {
                    "n_iters": 4,
                    "lr": 0.0003,
                    "batch_size": 32,
                    "n_steps": 2,
                    "eval_every": 2,
                    "val_n_steps": 2,
                },
            },
            "tuned_cosine": {"n_iters": 20, "batch_size": 64},
        },
        "eval": {
            "n_test": 50,
            "ll_n_steps": 4,
            "tight_n_steps": 8,
            "n_samples": 50,
            "sample_n_steps": 4,
            "n_plot": 30,
            "plot_n_steps": 20,
            "sweep_n_steps": [1, 2],
        },
        "score": {"n_iters": 20, "batch_size": 64, "n_steps": 10, "sigmas": [0.0, 1.0]},
    },
    "transport": {
        "network": {"hidden": [16, 16]},
        "n_iters": 20,
        "batch_size": 32,
        "sweep_n_steps": [1, 4],
        "n_samples": 50,
        "n_plot": 30,
    },
    "classifier": {
        "channels": [4],
        "feature_dim": 8,
        "n_iters": 20,
        "batch_size": 32,
        "n_holdout": 40,
        "eval_every": 10,
    },
    "train_flow": {
        "unet": TINY_UNET,
        "n_iters": 4,
        "batch_size": 16,
        "checkpoint_every": 2,
        "corruption": {"n_images": 2},
        "transfer": {"n_iters": 4, "batch_size": 8},
    },
    "train_score": {"unet": TINY_UNET, "n_iters": 4, "batch_size": 16, "checkpoint_every": 2},
    "sample": {
        "n_images": 40,
        "yardstick": {"n_reference": 60, "n_groups": 5, "noise_sigmas": [0.4]},
        "exact": {"rtol": 0.001, "atol": 0.001},
        "fast_nfe": 2,
        "ode": {"euler": [1, 2], "heun": [1], "rk4": [1]},
        "sde": {"sigmas": [1.0], "n_steps": 2, "sweep": {"sigma": 1.0, "n_steps": [1]}},
        "grid": {"n_images": 4, "nfe": 2},
        "transfer": {"n_images": 3, "n_steps": 1},
    },
    "bits_per_dim": {"n_images": 4, "n_steps": 2, "tight_n_steps": 4, "batch_size": 4},
    "train_score_sde": {
        "vp": {"beta_max": 1.0},  # the DDPM chain of N levels needs beta_max < N
        "unet": TINY_UNET,
        "n_iters": 4,
        "batch_size": 16,
        "checkpoint_every": 2,
    },
    "sample_score_sde": {
        "seeds": [0, 1],
        "n_images": 20,  # pooled 40: the tiny yardstick's real set
        "batch_size": 20,
        "n_steps": 2,
        "adaptive": {"rtol": 0.01, "atol": 0.01},
        "grid_n_images": 4,
        "bits_per_dim": {"n_images": 4, "n_steps": 2, "batch_size": 4},
    },
    "train_gan": {
        "gan": {"latent_dim": 4, "channels": [8, 4]},
        "n_iters": 4,
        "batch_size": 16,
        "checkpoint_every": 2,
    },
    "ddls": {
        "n_images": 40,  # the tiny yardstick's real set
        "batch_size": 20,
        "steps": [0, 1, 2],
        "step_sizes": [0.01, 0.1],
        "main_step_size": 0.01,
        "decay_every": 1,
        "grid_n_images": 4,
    },
}


def _merge(base: dict, update: dict) -> None:
    for k, v in update.items():
        if isinstance(v, dict):
            if base.get(k) is None:  # a section that is off (null) in params.yaml
                base[k] = {}
            _merge(base[k], v)
        else:
            base[k] = v


def _run(
    repo: Path, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DEVICE": "cpu",
        **(env or {}),
    }
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run(repo, sys.executable, "-m", "dvc", *args, check=check)


def _edit_params(repo: Path, update: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    _merge(params, update)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.mark.e2e
def test_dvc_pipeline_end_to_end(tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, repo / name)
    _run(repo, "git", "init", "-q")
    _run(repo, "git", "config", "user.email", "test@example.com")
    _run(repo, "git", "config", "user.name", "test")
    _dvc(repo, "init", "-q")
    _dvc(repo, "config", "core.analytics", "false")
    _edit_params(repo, TINY)
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "tiny params")

    first = _dvc(repo, "repro")
    assert _ran(first.stdout) == {
        "check_params",
        "primer",
        "data",
        "ode_fit",
        "sde_fit",
        "complexity",
        "flow2d",
        "transport",
        "classifier",
        "train_flow",
        "train_score",
        "sample",
        "bits_per_dim",
        "train_score_sde",
        "sample_score_sde",
        "train_gan",
        "ddls",
        "metrics",
        "report",
    }
    build = repo / "results" / "report" / "build"
    assert (build / "report.tex").exists()
    if shutil.which("latexmk") or os.environ.get("CI"):
        assert (build / "report.pdf").stat().st_size > 10_000
    tex = (build / "report.tex").read_text()
    assert "SDE primer" in tex and r"laplace\_mixture" in tex
    assert "1D likelihood models" in tex and "CNF rk4" in tex
    assert "2D flow matching" in tex and "Image models" in tex
    assert "Bits per dimension" in tex and "class-to-class" in tex and "Headline numbers" in tex
    assert assert_claims_follow_their_intervals(tex) >= 3  # 1D gaps and CNF vs ELBO, 2 seeds
    assert not list((repo / "checkpoints").glob("*.pt"))  # each removed once its training ends
    headlines = json.loads((repo / "results" / "metrics" / "metrics.json").read_text())
    assert headlines["images"]["n_images"] == 40 and headlines["images"]["n_real"] == 40
    assert headlines["images"]["bits_per_dim"]["exact"]["n_images"] == 4
    assert headlines["one_d"]["gaussian"]["cnf_gap"] == pytest.approx(
        json.loads((repo / "results" / "ode_fit" / "metrics.json").read_text())["gaussian"]["gap"]
    )
    sample = json.loads((repo / "results" / "sample" / "metrics.json").read_text())
    runs = {(s, key): row for s, r in sample["schedules"].items() for key, row in r["runs"].items()}
    # per schedule: the exact solve, 4 ODE runs, 1 SDE run and the SDE's sweep run (NFE 2)
    assert len(runs) == 2 * (1 + 4 + 1 + 1)
    assert sample["best"]["kid"]["value"] == min(r["kid"]["value"] for r in runs.values())
    for (_, key), row in runs.items():
        assert row["kid"]["ci_low"] < row["kid"]["value"] < row["kid"]["ci_high"]
        assert ("vs_exact" in row) == (key != "exact") and row["n_images"] == 40
    assert sample["real_vs_real"]["kid"]["se"] > 0 and len(sample["calibration"]) == 2
    score_sde = json.loads((repo / "results" / "sample_score_sde" / "metrics.json").read_text())
    cells = [c for rows in score_sde["cells"].values() for r in rows.values() for c in r.values()]
    # per SDE: 3 predictors x (P N, P 2N, PC N), C 2N and the adaptive probability flow
    assert len(cells) == 2 * (3 * 3 + 2) and {c["n_images"] for c in cells} == {40}
    assert {c["nfe"] for c in cells if c["variant"] in ("p_2n", "c_2n", "pc_n")} == {4}
    assert score_sde["tally"]["total"] == 2 * (3 * 3 + 1) == len(score_sde["orderings"])
    assert score_sde["real_vs_real"] == sample["real_vs_real"]  # the same yardstick
    assert {r["exact"]["n_images"] for r in score_sde["bits_per_dim"].values()} == {4}
    assert "Score SDEs" in tex and "predictor--corrector table" in tex
    ddls = json.loads((repo / "results" / "ddls" / "metrics.json").read_text())
    assert set(ddls["chains"]) == {"ula_eps_0p01", "ula_eps_0p1", "mala_eps_0p01"}
    for chain in ddls["chains"].values():
        assert [r["k"] for r in chain["by_k"]] == [0, 1, 2] and len(chain["energy"]) == 3
        assert chain["by_k"][0]["kid"] == ddls["generator"]["kid"]  # k = 0: the generator
    assert 0 <= ddls["chains"]["mala_eps_0p01"]["acceptance"] <= 1
    # the GAN, the GAN with DDLS, the flows' best ODE sampler and the score SDEs' best cell
    assert len(ddls["table"]) == 4 and ddls["ddls"]["k"] == 2
    assert "energy-based model" in tex
    sn = ddls["spectral_norm"]  # the same GAN without it, trained side by side
    assert sn["with_spectral_norm"]["kid"] == ddls["generator"]["kid"]
    assert sn["with_minus_without"]["verdict"] in ("lower", "higher", "not resolved")
    metrics = json.loads((repo / "results" / "data" / "metrics.json").read_text())
    assert metrics["one_d"]["gaussian"]["n_test"] == 50
    assert (
        "var_empirical"
        in json.loads((repo / "results/primer/metrics.json").read_text())["brownian"]["sigma_0p5"]
    )

    assert "up to date" in _dvc(repo, "repro").stdout
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "first run")

    _edit_params(repo, {"primer": {"brownian": {"sigmas": [0.5, 3.0]}}})
    second = _dvc(repo, "repro")
    assert _ran(second.stdout) == {"check_params", "primer", "metrics", "report"}
    assert "Stage 'data' didn't change, skipping" in second.stdout

    diff = json.loads(_dvc(repo, "metrics", "diff", "--json").stdout)
    primer_diff = diff["results/primer/metrics.json"]
    assert "brownian.sigma_3.var_theory" in primer_diff
    assert primer_diff["brownian.sigma_3.var_theory"]["new"] == pytest.approx(9.0)
    assert "results/data/metrics.json" not in diff or not any(
        k.startswith("one_d") for k in diff["results/data/metrics.json"]
    )

    _edit_params(repo, {"primer": {"ou": {"n_steps": -5}}})
    bad = _dvc(repo, "repro", check=False)
    assert bad.returncode != 0
    assert "primer.ou.n_steps = -5" in bad.stderr + bad.stdout
    assert "greater than 0" in bad.stderr + bad.stdout

    # a misspelt key is an edit of its stage's section: its validation names it, nothing runs
    _edit_params(repo, {"primer": {"ou": {"n_steps": 40}}, "ode_fit": {"n_iter": 500}})
    typo = _dvc(repo, "repro", "ode_fit", check=False)
    assert typo.returncode != 0
    assert "ode_fit.n_iter = 500: unknown key" in typo.stderr + typo.stdout
    # a misspelt section is read by no stage: check_params, which tracks the whole file, refuses it
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["ode_fit"].pop("n_iter")
    params["sampel"] = {"n_images": 10}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    section = _dvc(repo, "repro", check=False)
    assert section.returncode != 0
    assert "unknown top-level section(s) ['sampel']" in section.stderr + section.stdout

    # --- several machines: a DVC remote and a Git remote (a local bare repository) shared ---
    # back to "first run": Git holds params, the lock and the small uncached outs (metrics)
    _run(repo, "git", "checkout", "--", ".")
    _dvc(repo, "checkout", "--force")
    assert "up to date" in _dvc(repo, "status").stdout
    origin, store = tmp_path / "origin.git", tmp_path / "dvc-store"
    _run(tmp_path, "git", "init", "-q", "--bare", str(origin))
    _run(repo, "git", "remote", "add", "origin", str(origin))
    _dvc(repo, "remote", "add", "-d", "shared", str(store))
    _run(repo, "git", "commit", "-qam", "the shared DVC remote")
    _run(repo, "git", "push", "-q", "origin", "HEAD:refs/heads/main")
    _dvc(repo, "push")
    second_machine = tmp_path / "second"
    _run(tmp_path, "git", "clone", "-q", "--branch", "main", str(origin), str(second_machine))
    _dvc(second_machine, "pull")
    nothing = _dvc(second_machine, "repro")
    assert _ran(nothing.stdout) == set() and "up to date" in nothing.stdout
    assert (second_machine / "results" / "report" / "build" / "report.tex").exists()

    # --- a queued sweep, two experiments side by side, each in its own workspace copy ---
    for sigma in (1.0, 2.0):
        name = f"langevin-{sigma:g}"
        _dvc(repo, "exp", "run", "--queue", "-n", name, "-S", f"primer.langevin.sigma={sigma}")
    _dvc(repo, "queue", "start", "-j", "2")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = _dvc(repo, "queue", "status").stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(2)
    assert "Success" in status and "Failed" not in status, status
    shown = json.loads(_dvc(repo, "exp", "show", "--json").stdout)
    experiments = {
        e["name"]: e["revs"][0]["data"]
        for rev in shown
        for e in rev.get("experiments") or []
        if e.get("name")
    }
    assert set(experiments) == {"langevin-1", "langevin-2"}
    sigmas = {
        name: data["params"]["params.yaml"]["data"]["primer"]["langevin"]["sigma"]
        for name, data in experiments.items()
    }
    assert sigmas == {"langevin-1": 1.0, "langevin-2": 2.0}
    diff = json.loads(_dvc(repo, "metrics", "diff", "langevin-1", "langevin-2", "--json").stdout)
    assert any(k.startswith("langevin") for k in diff["results/primer/metrics.json"])
    # gathered on the shared remotes, then fetched by the other machine
    _dvc(repo, "exp", "push", "origin", "langevin-1", "langevin-2")
    _dvc(second_machine, "exp", "pull", "origin", "langevin-1")
    listed = _dvc(second_machine, "exp", "list", "--name-only").stdout.split()
    assert "langevin-1" in listed and "langevin-2" not in listed

    # --- the sampling split over two processes (NPROC=2: torchrun, gloo): the same images ---
    samples = second_machine / "results" / "sample" / "samples.npz"
    one_process = samples.read_bytes()
    split = _run(
        second_machine, sys.executable, "-m", "dvc", "repro", "-f", "-s", "sample",
        env={"NPROC": "2"},
    )  # fmt: skip
    assert _ran(split.stdout) == {"sample"} and samples.read_bytes() == one_process
    assert (
        json.loads((second_machine / "results/sample/metrics.json").read_text())["run"]["processes"]
        == 2
    )

    # --- one training on two processes (NPROC=2: torchrun, gloo): the one-process model again ---
    one = torch.load(second_machine / "models" / "train_score" / "noise_linear.pt")
    two_procs = _run(
        second_machine, sys.executable, "-m", "dvc", "repro", "-f", "-s", "train_score",
        env={"NPROC": "2"},
    )  # fmt: skip
    assert _ran(two_procs.stdout) == {"train_score"}
    two = torch.load(second_machine / "models" / "train_score" / "noise_linear.pt")
    for key, value in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    metrics = json.loads((second_machine / "results/train_score/metrics.json").read_text())
    assert metrics["run"]["processes"] == 2
    assert not list((second_machine / "checkpoints").glob("*.pt"))
