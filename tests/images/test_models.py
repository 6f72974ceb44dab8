"""Image model training (lib/image_models.py): a trained velocity field and a trained noise
predictor satisfy the Gaussian path's identity between velocity and score, and both match the
exact fields of a dataset whose marginal path is known."""

import pytest
import torch

from lib.flows import score_matching
from lib.images.models import ImageTraining, fit_unet
from lib.nets.unet import UNetConfig
from lib.paths.gaussian import GaussianPath
from lib.paths.schedules import make_schedule

K = 256  # fine levels: the dequantized data is within 1/256 of one point


def _run(target: str, schedule: str) -> ImageTraining:
    return ImageTraining(
        target=target,
        config=UNetConfig((16,), 1, 1, 16),
        schedule=schedule,
        n_iters=800,
        batch_size=64,
        lr=1e-2,
        lr_schedule="cosine",
        ema_decay=0.99,
        seed=0,
    )


@pytest.fixture(scope="module")
def trained():
    """One 4x4 image (64 copies): the path's marginal is then N(alpha_t z, sigma_t^2 I) up to the
    dequantization width, with known velocity and score. Both models, ~12 s together."""
    torch.set_num_threads(1)
    z_int = torch.randint(0, K, (1, 1, 4, 4), generator=torch.Generator().manual_seed(3))
    images = z_int.to(torch.uint8).repeat(64, 1, 1, 1)
    flow, fr = fit_unet(_run("velocity", "linear"), images, K, torch.device("cpu"), progress=False)
    noise, nr = fit_unet(_run("noise", "linear"), images, K, torch.device("cpu"), progress=False)
    z = 2 * (z_int.float() + 0.5) / K - 1  # the bin's centre
    return GaussianPath(make_schedule("linear")), flow, noise, z, fr, nr


def _on_path(path, z, t: float, n: int = 256):
    eps = torch.randn((n, *z.shape[1:]), generator=torch.Generator().manual_seed(1))
    return path.sample(z.expand(n, -1, -1, -1), t, eps).x_t


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_training_reduces_both_losses(trained):
    *_, fr, nr = trained
    for r in (fr, nr):
        assert sum(r.train_loss[-50:]) < 0.3 * sum(r.train_loss[:50])


@pytest.mark.parametrize("t", [0.5, 0.75])
def test_velocity_and_score_models_satisfy_the_path_identity(trained, t):
    path, flow, noise, z, *_ = trained
    x = _on_path(path, z, t)
    with torch.no_grad():
        u = flow(x, torch.tensor(t))
        s = score_matching.score_fn(noise, path)(x, torch.tensor(t))
        u_exact = path.conditional_velocity(x, z, t)  # one data point: conditional = marginal
        s_exact = path.conditional_score(x, z, t)
    # Measured (800 steps each): identity residual 0.22 (t = 0.5) and 0.18 (t = 0.75) of |u|;
    # each model 0.10-0.13 from its exact field. Small t is left out: there
    # velocity_from_score multiplies the score's error by d_alpha sigma^2 / alpha (3 at t = 0.25).
    assert _rel(path.velocity_from_score(x, s, t), u) < 0.3
    assert _rel(u, u_exact) < 0.2
    assert _rel(s, s_exact) < 0.2
    # the identity of another schedule does not hold (measured 1.2-1.3): the check discriminates
    wrong = GaussianPath(make_schedule("cosine"))
    assert _rel(wrong.velocity_from_score(x, s, t), u) > 0.8


def test_score_matching_rejects_a_source():
    images = torch.zeros(4, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="score matching starts from N"):
        fit_unet(_run("noise", "linear"), images, K, torch.device("cpu"), source=images)


def _tiny_fit(monkeypatch, checkpoint, crash_at: int | None = None, target: str = "velocity"):
    """A 6-step fit checkpointed every 2 steps; crash_at raises inside the 1-based crash_at-th
    batch's dequantization, as an interrupt in the middle of training would."""
    import lib.images.models as image_models

    calls = {"n": 0}
    real = image_models.dequantize

    def dequantize(*args):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(image_models, "dequantize", dequantize)
    run = ImageTraining(target, UNetConfig((8,), 1, 1, 8), "linear", 6, 8, 1e-2, "cosine", 0.9, 0)
    images = torch.randint(0, 17, (16, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    return fit_unet(
        run,
        images.to(torch.uint8),
        17,
        torch.device("cpu"),
        checkpoint=checkpoint,
        checkpoint_every=2,
        progress=False,
    )


@pytest.mark.parametrize("target", ["velocity", "noise"])
def test_an_interrupted_fit_resumes_to_the_same_model(tmp_path, monkeypatch, target):
    """train_flow / train_score after a crash: the rerun resumes from the checkpoint and ends
    with exactly the weights and losses of an uninterrupted run (batches and dequantization
    noise come from the checkpointed generator)."""
    ckpt = tmp_path / "ckpt.pt"
    straight, r0 = _tiny_fit(monkeypatch, ckpt, target=target)
    assert r0.resumed_from == 0 and not ckpt.exists()
    with pytest.raises(KeyboardInterrupt):
        _tiny_fit(monkeypatch, ckpt, crash_at=5, target=target)
    assert ckpt.exists()
    resumed, r1 = _tiny_fit(monkeypatch, ckpt, target=target)
    assert r1.resumed_from == 4 and not ckpt.exists()
    assert r1.train_loss == r0.train_loss
    for (name, a), b in zip(resumed.state_dict().items(), straight.state_dict().values()):
        assert torch.equal(a, b), name
