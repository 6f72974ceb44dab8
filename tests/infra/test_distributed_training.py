"""The trainings under data parallelism: `flow_matching.fit` on two gloo processes equals one
process on the same global batches (weights, EMA, BatchNorm statistics, recorded losses); rank 0
alone writes the checkpoint, and a run interrupted on two processes resumes on one. The same for
the GAN's two networks (`fit_gan`)."""

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from lib.flows import flow_matching
from lib.infra.distributed import World, process_group
from lib.nets.gan import Discriminator, GanConfig, Generator
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule
from lib.training.gan_loop import fit_gan

N_ITERS, BATCH, CRASH_AT = 6, 8, 5


class TinyVelocity(nn.Module):
    """Conv -> BatchNorm -> SiLU -> conv on (x, t): a BatchNorm over the batch, as the UNet has."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        # no bias before BatchNorm: its gradient is zero, and Adam would magnify the rounding
        self.inp = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(4)
        self.out = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t_map = t[:, None, None, None].expand(-1, 1, *x.shape[2:])
        return self.out(nn.functional.silu(self.norm(self.inp(torch.cat([x, t_map], 1)))))


class Crash(Exception):
    pass


def fit(world: World, checkpoint=None, crash_at: int | None = None):
    """Flow matching of TinyVelocity on fixed images, EMA on; preprocess raises at its
    crash_at-th call (an interrupted run)."""
    data = torch.randn(32, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    calls = []

    def preprocess(x, g):
        calls.append(1)
        if len(calls) == crash_at:
            raise Crash
        return x

    model = TinyVelocity()
    result = flow_matching.fit(
        model,
        GaussianPath(make_schedule("linear")),
        data,
        n_iters=N_ITERS,
        batch_size=BATCH,
        lr=0.01,
        generator=torch.Generator().manual_seed(1),
        ema_decay=0.9,
        preprocess=preprocess,
        checkpoint=checkpoint,
        checkpoint_every=2,
        progress=False,
        world=world,
    )
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return state, result


def _rank(rank: int, size: int, out_dir, crash_at) -> None:
    world = World(rank, size)
    with process_group(world, "cpu", init_method=f"file://{out_dir / 'store'}"):
        torch.set_num_threads(1)
        try:
            state, result = fit(world, out_dir / "run.ckpt", crash_at)
        except Crash:
            return
        torch.save((state, result.train_loss), out_dir / f"rank{rank}.result")


def _spawn(tmp_path, crash_at=None) -> None:
    mp.spawn(_rank, args=(2, tmp_path, crash_at), nprocs=2, join=True)
    (tmp_path / "store").unlink(missing_ok=True)


def _assert_same(state: dict, want: dict, atol: float = 1e-6) -> None:
    for key, value in want.items():  # BatchNorm's running statistics included
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=atol, msg=key)


def test_two_ranks_train_as_one_process_on_the_global_batch(tmp_path):
    _spawn(tmp_path)
    single, result = fit(World())
    assert len(result.train_loss) == N_ITERS
    for rank in (0, 1):
        state, losses = torch.load(tmp_path / f"rank{rank}.result")
        _assert_same(state, single)
        # the recorded loss is the global batch's, the mean of the two halves'
        torch.testing.assert_close(losses, result.train_loss, rtol=1e-5, atol=1e-6)
    assert not torch.equal(single["inp.weight"], TinyVelocity().state_dict()["inp.weight"])


def test_rank_zero_alone_checkpoints_and_a_run_resumes_on_another_world_size(tmp_path):
    """Two ranks stop during iteration 5, after the checkpoint of iteration 4; one process then
    finishes the run and ends where an uninterrupted one does."""
    _spawn(tmp_path, crash_at=CRASH_AT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no rank-1 file
    resumed, result = fit(World(), tmp_path / "run.ckpt")
    assert result.resumed_from == CRASH_AT - 1
    uninterrupted, whole = fit(World())
    _assert_same(resumed, uninterrupted)
    torch.testing.assert_close(result.train_loss, whole.train_loss, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "run.ckpt").exists()  # removed once the run completed


def test_a_global_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(ValueError, match="batch_size = 8 is not divisible by the world size 3"):
        fit(World(0, 3))


def fit_tiny_gan(world: World, checkpoint=None):
    """A tiny DCGAN (BatchNorm in the generator, spectral norm in the discriminator), 3 steps."""
    torch.manual_seed(0)
    config = GanConfig(latent_dim=4, channels=(8, 4), spectral_norm=True, batch_norm=True)
    g, d = Generator(config, 1, (8, 8)), Discriminator(config, 1, (8, 8))
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    result = fit_gan(
        g, d, images, n_iters=3, batch_size=BATCH, lr_g=0.01, lr_d=0.01, latent_dim=4,
        seed_generator=torch.Generator().manual_seed(1), checkpoint=checkpoint,
        checkpoint_every=1, progress=False, world=world,
    )  # fmt: skip
    states = {f"g.{k}": v for k, v in g.state_dict().items()}
    return states | {f"d.{k}": v for k, v in d.state_dict().items()}, result


def _gan_rank(rank: int, size: int, out_dir) -> None:
    world = World(rank, size)
    with process_group(world, "cpu", init_method=f"file://{out_dir / 'store'}"):
        torch.set_num_threads(1)
        state, result = fit_tiny_gan(world)
        torch.save((state, result.d_loss, result.g_loss), out_dir / f"gan{rank}.result")


def test_a_gan_on_two_ranks_trains_as_one_process(tmp_path):
    mp.spawn(_gan_rank, args=(2, tmp_path), nprocs=2, join=True)
    single, result = fit_tiny_gan(World())
    for rank in (0, 1):
        state, d_loss, g_loss = torch.load(tmp_path / f"gan{rank}.result")
        # the generator's BatchNorm statistics included; the spectral norm's power iterations
        # (a normalisation by a computed norm at every call) spread the rounding a little more
        _assert_same(state, single, atol=1e-5)
        torch.testing.assert_close(d_loss, result.d_loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g_loss, result.g_loss, rtol=1e-5, atol=1e-6)
