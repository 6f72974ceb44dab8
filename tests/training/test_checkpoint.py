"""Checkpoints: the state and RNG states round trip, and a crashed-then-resumed training run ends
bit-identical to an uninterrupted one."""

import pytest
import torch
from torch import nn

from lib.training.checkpoint import Checkpoint
from lib.training.loop import train


def test_checkpoint_round_trip_restores_the_generators(tmp_path):
    gen = torch.Generator().manual_seed(3)
    saver = Checkpoint(tmp_path / "c.pt", every=5, settings={"n_iters": 10, "shape": [2, 3]})
    assert [it for it in range(1, 11) if saver.due(it, 10)] == [5]  # never after the last
    torch.manual_seed(4)
    saver.save({"iteration": 5, "weights": torch.arange(3.0)}, [gen])
    expected = torch.rand(4, generator=gen), torch.rand(4)
    torch.rand(100, generator=gen), torch.rand(100)  # what a crash would have drawn
    saved = saver.load([gen])
    assert saved["iteration"] == 5 and torch.equal(saved["weights"], torch.arange(3.0))
    assert torch.equal(torch.rand(4, generator=gen), expected[0])
    assert torch.equal(torch.rand(4), expected[1])
    saver.remove()
    assert not saver.path.exists() and saver.load([gen]) is None


def test_checkpoint_of_other_settings_is_not_loaded(tmp_path):
    Checkpoint(tmp_path / "c.pt", 5, {"n_iters": 10}).save({"iteration": 5}, [])
    with pytest.warns(UserWarning, match="other settings"):
        assert Checkpoint(tmp_path / "c.pt", 5, {"n_iters": 20}).load([]) is None


class _Net(nn.Module):
    """Dropout draws from torch's global generator: resuming must restore it too."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _resumable_run(checkpoint, crash_at: int | None = None):
    """A run with every moving part: generator batches, dropout, warmup, clipping, EMA,
    validation; a fresh process is mimicked by reseeding and rebuilding everything."""
    torch.manual_seed(0)
    data = torch.randn(256, 3, generator=torch.Generator().manual_seed(1))
    model, gen = _Net(), torch.Generator().manual_seed(2)

    def loss_fn(it: int) -> torch.Tensor:
        if it == crash_at:
            raise KeyboardInterrupt
        batch = data[torch.randperm(len(data), generator=gen)[:32]]
        return ((model(batch[:, :2]) - batch[:, 2:]) ** 2).mean()

    def validate(m: nn.Module) -> float:
        with torch.no_grad():
            return -((m(data[:, :2]) - data[:, 2:]) ** 2).mean().item()

    result = train(
        model,
        loss_fn,
        n_iters=40,
        lr=0.05,
        warmup=4,
        grad_clip=0.5,
        ema_decay=0.9,
        validate=validate,
        eval_every=10,
        checkpoint=checkpoint,
        checkpoint_every=10,
        generators=[gen],
        progress=False,
    )
    return model, result


def test_resume_is_bit_identical(tmp_path):
    checkpoint = tmp_path / "ckpt.pt"
    straight_model, straight = _resumable_run(checkpoint)
    assert straight.resumed_from == 0 and not checkpoint.exists()  # removed when complete

    with pytest.raises(KeyboardInterrupt):
        _resumable_run(checkpoint, crash_at=27)
    assert checkpoint.exists()
    model, resumed = _resumable_run(checkpoint)

    assert resumed.resumed_from == 20 and not checkpoint.exists()
    assert resumed.train_loss == straight.train_loss  # exact float equality
    assert resumed.val_iters == straight.val_iters and resumed.val_values == straight.val_values
    assert (resumed.best_iter, resumed.best_value) == (straight.best_iter, straight.best_value)
    for (name, a), b in zip(model.state_dict().items(), straight_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_of_other_settings_is_ignored(tmp_path):
    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        _resumable_run(checkpoint, crash_at=15)
    model = nn.Module()
    model.p = nn.Parameter(torch.tensor(0.0, dtype=torch.float64))
    with pytest.warns(UserWarning, match="other settings"):
        result = train(model, lambda it: model.p * 1.0, n_iters=5, lr=0.1, checkpoint=checkpoint)
    assert result.resumed_from == 0 and len(result.train_loss) == 5
