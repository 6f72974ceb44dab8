"""Data-parallel training: two gloo processes on CPU, each on half of the global batch, end with
the weights (and BatchNorm statistics) of one process trained on the whole batch; only rank 0
writes. Plus the launcher environment's parsing and the batch shards."""

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from lib.infra.distributed import (
    DistributedBatchNorm2d,
    World,
    current_world,
    data_parallel,
    gather_rows,
    is_main_process,
    map_batches,
    mean_over_ranks,
    n_processes_requested,
    process_group,
    shard,
    sync_batchnorm,
    world_from_env,
)

GLOBAL_BATCH, N_STEPS = 8, 4


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        # no bias before BatchNorm: its gradient is zero, and Adam would magnify the rounding
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.SiLU(),
        nn.Conv2d(4, 1, 3, padding=1),
    )


def train(world: World, out_dir=None) -> dict:
    """N_STEPS Adam steps on seeded global batches, this rank's shard of each; rank 0 saves."""
    model = data_parallel(tiny_model(), world)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(1)  # the same draws on every rank
    for _ in range(N_STEPS):
        x = torch.randn(GLOBAL_BATCH, 1, 6, 6, generator=g)
        target = torch.randn(GLOBAL_BATCH, 1, 6, 6, generator=g)
        optimizer.zero_grad()
        loss = ((model(shard(x, world)) - shard(target, world)) ** 2).mean()
        loss.backward()
        optimizer.step()
    inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
    if out_dir is not None and world.is_main:
        torch.save(state, out_dir / "weights.pt")
    return state


def _rank(rank: int, size: int, out_dir) -> None:
    world = World(rank, size)
    with process_group(world, "cpu", init_method=f"file://{out_dir / 'store'}"):
        torch.set_num_threads(1)
        state = train(world, out_dir)
        torch.save(state, out_dir / f"state_rank{rank}.tmp")  # for the test's own comparison


def test_two_gloo_processes_equal_one_process_on_the_global_batch(tmp_path):
    mp.spawn(_rank, args=(2, tmp_path), nprocs=2, join=True)
    single = train(World())
    written = {p.name for p in tmp_path.iterdir() if not p.name.endswith(".tmp")}
    assert "weights.pt" in written and not any("rank1" in name for name in written)
    ranks = [torch.load(tmp_path / f"state_rank{r}.tmp") for r in (0, 1)]
    saved = torch.load(tmp_path / "weights.pt")
    for key, value in single.items():
        # BatchNorm keys included: running mean / var / count over the global batch
        for state in (saved, *ranks):
            torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert not torch.equal(single["0.weight"], tiny_model().state_dict()["0.weight"])  # trained


def test_unsynchronised_batchnorm_would_not_match():
    """The reason for DistributedBatchNorm2d: each half's own statistics normalise differently."""
    bn = nn.BatchNorm2d(3).train()
    x = (
        torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        + torch.arange(8.0)[:, None, None, None]
    )
    whole = bn(x)
    halves = torch.cat([bn(x[:4]), bn(x[4:])])
    assert (whole - halves).abs().max() > 0.1


def test_sync_batchnorm_keeps_weights_and_stats_and_is_batchnorm_alone():
    model = tiny_model()
    model[1].running_mean.fill_(0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(2))
    reference = tiny_model()
    reference.load_state_dict(before)
    synced = sync_batchnorm(model)
    assert type(synced[1]) is DistributedBatchNorm2d
    for key, value in synced.state_dict().items():
        assert torch.equal(value, before[key])
    torch.testing.assert_close(synced(x), reference(x))  # no process group: plain BatchNorm


def test_world_comes_from_the_launchers_environment():
    assert world_from_env({}) == World(0, 1)
    assert world_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == World(1, 4)
    assert World(0, 3).is_main and not World(2, 3).is_main
    with pytest.raises(ValueError, match="WORLD_SIZE = None"):
        world_from_env({"RANK": "0"})
    with pytest.raises(ValueError, match="RANK = 'x'"):
        world_from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="rank 2 of world size 2"):
        world_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_shards_are_equal_contiguous_slices_of_the_global_batch():
    batch = torch.arange(12)
    parts = [shard(batch, World(r, 3)) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch) and {len(p) for p in parts} == {4}
    with pytest.raises(ValueError, match="batch_size = 12 is not divisible by the world size 5"):
        shard(batch, World(0, 5))


def test_the_nproc_switch_and_the_world_outside_a_process_group():
    assert n_processes_requested({}) == 1 and n_processes_requested({"NPROC": "3"}) == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match=f"NPROC = '{bad}': expected a positive integer"):
            n_processes_requested({"NPROC": bad})
    assert current_world() == World() and is_main_process()


def test_one_process_maps_every_batch_in_order_and_gathers_itself():
    batches = [torch.full((2,), float(i)) for i in range(3)]
    assert map_batches(lambda i, b: (i, b.sum().item()), batches, World()) == [
        (0, 0.0),
        (1, 2.0),
        (2, 4.0),
    ]
    x = torch.arange(4.0)
    assert gather_rows(x, World()) is x and mean_over_ranks(x) is x
