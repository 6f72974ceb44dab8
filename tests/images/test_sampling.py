"""The sampler grid of one schedule on tiny untrained UNets: every run from the same noise,
its function evaluations counted, images quantized, the ODE runs' distance to the exact solve;
the same runs when the batches are split over two processes."""

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lib.images.sampling import GridJob, run_grid
from lib.infra.distributed import World, process_group
from lib.nets.unet import UNetConfig, build_unet, save_unet


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for tag in ("velocity", "noise"):
        torch.manual_seed(0 if tag == "velocity" else 1)
        net = build_unet(UNetConfig((4, 8), 1, 1, 8), 1, (8, 8)).eval()
        save_unet(folder / f"{tag}.pt", net, (8, 8))
    x0 = torch.randn(24, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    return GridJob(
        schedule="linear",
        velocity_file=folder / "velocity.pt",
        noise_file=folder / "noise.pt",
        x0=x0,
        n_levels=17,
        batch_size=10,
        seed=0,
        device="cpu",
        exact={"method": "dopri5", "rtol": 1e-5, "atol": 1e-5},
        ode={"euler": [1, 64], "rk4": [4]},
        sde_sigmas=[0.5, 1.0],
        sde_n_steps=4,
        sweep_sigma=0.5,
        sweep_n_steps=[2],
    )


def test_every_run_of_the_grid(job):
    runs = run_grid(job)
    keys = [r.key for r in runs]
    assert keys == [
        "exact",
        "euler_nfe_1",
        "euler_nfe_64",
        "rk4_nfe_16",
        "sde_sigma_0p5_nfe_8",
        "sde_sigma_1_nfe_8",
        "sde_sigma_0p5_nfe_4",
    ]
    for r in runs:
        assert r.images.shape == (24, 1, 8, 8) and r.images.dtype == np.uint8
        assert r.images.max() <= 16 and r.schedule == "linear" and r.seconds > 0
    exact, euler1, euler64, rk4 = runs[:4]
    assert exact.rmse_to_exact is None and exact.nfe >= 6  # dopri5: >= 6 evaluations per step
    # Euler's error falls with its steps; RK4 with 16 evaluations beats one Euler step
    assert euler64.rmse_to_exact < euler1.rmse_to_exact
    assert rk4.rmse_to_exact < euler1.rmse_to_exact
    assert all(r.rmse_to_exact is None for r in runs[4:])


def test_the_grid_is_deterministic_and_sde_runs_keep_their_own_noise(job):
    a, b = run_grid(job), run_grid(job)
    assert all(np.array_equal(x.images, y.images) for x, y in zip(a, b, strict=True))
    # dropping the sweep leaves the main SDE runs' noise (and images) unchanged
    no_sweep = run_grid(GridJob(**{**job.__dict__, "sweep_sigma": None, "sweep_n_steps": []}))
    assert np.array_equal(no_sweep[-1].images, a[-2].images)


def _grid_on_rank(rank: int, size: int, job: GridJob, out_dir) -> None:
    world = World(rank, size)
    with process_group(world, "cpu", init_method=f"file://{out_dir / 'store'}"):
        torch.set_num_threads(1)
        runs = run_grid(job)
        np.savez(out_dir / f"rank{rank}.npz", **{r.key: r.images for r in runs})


def test_the_grid_split_over_two_ranks_gives_every_rank_the_same_runs(job, tmp_path):
    """3 batches over 2 gloo processes (2 + 1): each rank ends with every image of every run,
    equal to one process's, SDE noise included."""
    mp.spawn(_grid_on_rank, args=(2, job, tmp_path), nprocs=2, join=True)
    single = {r.key: r.images for r in run_grid(job)}
    for rank in (0, 1):
        got = np.load(tmp_path / f"rank{rank}.npz")
        assert sorted(got.files) == sorted(single)
        for key, images in single.items():
            np.testing.assert_array_equal(got[key], images, err_msg=key)
