"""One (SDE, seed) of the P/C/PC table on a tiny untrained model: every cell from one prior draw,
reproducible, each cell's noise independent of the others, the same on two processes; cells
pooled over seeds."""

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lib.images import score_sde_sampling as pc
from lib.images.score_sde_models import STAGE, build_model
from lib.infra import layout
from lib.infra.distributed import World, process_group
from lib.nets.unet import UNetConfig, save_unet


@pytest.fixture
def tiny_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = UNetConfig(channels=(4, 8), n_res_per_level=1, n_bottleneck=1, time_dim=8)
    for kind, schedule in (
        ("ve", {"sigma_min": 0.01, "sigma_max": 5.0}),
        ("vp", {"beta_min": 0.1, "beta_max": 2.0}),
    ):
        torch.manual_seed(0)
        model, _ = build_model(kind, schedule, config, 1, (8, 8))
        save_unet(layout.model(STAGE, kind), model.net, (8, 8), sde=kind, schedule=schedule)


def _job(sde: str, predictors=("ancestral_sampling", "probability_flow"), seed=0) -> pc.TableJob:
    return pc.TableJob(
        sde=sde, seed=seed, image_shape=(1, 8, 8), n_levels=17, n_images=6, batch_size=4,
        n_steps=3, predictors=predictors, snr=0.16, eps=1e-3, denoise=True,
        adaptive={"method": "dopri5", "rtol": 1e-2, "atol": 1e-2}, device="cpu",
    )  # fmt: skip


def test_the_plan_has_the_papers_columns():
    plan = pc.cell_plan(["reverse_diffusion"], 5)
    assert plan == [
        ("reverse_diffusion", "p_n", "reverse_diffusion", 5),
        ("reverse_diffusion", "p_2n", "reverse_diffusion", 10),
        ("reverse_diffusion", "pc_n", "pc_reverse_diffusion", 5),
        (pc.CORRECTOR_ONLY, "c_2n", "langevin", 10),
    ]


@pytest.mark.parametrize("sde", ["ve", "vp"])
def test_every_cell_runs_reproducibly(tiny_model, sde):
    cells = pc.run_table(_job(sde))
    keys = [(c.sampler, c.variant) for c in cells]
    predictors, variants = ("ancestral_sampling", "probability_flow"), ("p_n", "p_2n", "pc_n")
    rows = [(p, v) for p in predictors for v in variants]
    assert keys == [*rows, (pc.CORRECTOR_ONLY, "c_2n"), (pc.ADAPTIVE, "adaptive")]
    nfe = {(c.sampler, c.variant): c.nfe for c in cells}
    assert nfe[("ancestral_sampling", "p_n")] == 3 and nfe[("ancestral_sampling", "pc_n")] == 6
    assert nfe[(pc.CORRECTOR_ONLY, "c_2n")] == 6 and nfe[(pc.ADAPTIVE, "adaptive")] > 0
    for c in cells:
        assert c.images.shape == (6, 1, 8, 8) and c.images.dtype == np.uint8
        assert c.images.max() <= 16
    again = pc.run_table(_job(sde))
    assert all(np.array_equal(a.images, b.images) for a, b in zip(cells, again, strict=True))


def test_a_cell_does_not_depend_on_the_other_predictors(tiny_model):
    both = {(c.sampler, c.variant): c.images for c in pc.run_table(_job("ve"))}
    one = {
        (c.sampler, c.variant): c.images for c in pc.run_table(_job("ve", ("ancestral_sampling",)))
    }
    for key, images in one.items():
        assert np.array_equal(images, both[key]), key
    # a different seed draws a different prior sample
    other = pc.run_table(_job("ve", ("ancestral_sampling",), seed=1))
    assert not np.array_equal(other[0].images, one[("ancestral_sampling", "p_n")])


def _table_on_rank(rank: int, size: int, out_dir) -> None:
    world = World(rank, size)
    with process_group(world, "cpu", init_method=f"file://{out_dir / 'store'}"):
        torch.set_num_threads(1)
        cells = pc.run_table(_job("vp"))
        np.savez(
            out_dir / f"rank{rank}.npz", **{f"{c.sampler}.{c.variant}": c.images for c in cells}
        )


def test_the_table_split_over_two_ranks_gives_the_same_cells(tiny_model, tmp_path):
    """2 batches (4 + 2 images) over 2 gloo processes: every cell equal to one process's."""
    mp.spawn(_table_on_rank, args=(2, tmp_path), nprocs=2, join=True)
    single = {f"{c.sampler}.{c.variant}": c.images for c in pc.run_table(_job("vp"))}
    for rank in (0, 1):
        got = np.load(tmp_path / f"rank{rank}.npz")
        assert sorted(got.files) == sorted(single)
        for key, images in single.items():
            np.testing.assert_array_equal(got[key], images, err_msg=key)


def test_pooling_concatenates_seeds_in_order():
    def cell(seed, nfe, n):
        images = np.full((n, 1, 2, 2), seed, dtype=np.uint8)
        return pc.Cell("vp", pc.ADAPTIVE, "adaptive", None, nfe, 1.0, images)

    pooled = pc.pool_seeds([cell(0, 10.0, 2), cell(1, 40.0, 6)])
    c = pooled[("vp", pc.ADAPTIVE, "adaptive")]
    assert c.images[:, 0, 0, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert c.nfe == pytest.approx((2 * 10 + 6 * 40) / 8) and c.seconds == 2.0
