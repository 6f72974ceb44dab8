"""The feature classifier: its input scale is the generative models', its augmentation moves
images as stated, it learns the digits, and it saves and loads."""

import numpy as np
import pytest
import torch

from lib.flows.likelihood import dequantize, quantize
from lib.images.classifier import (
    Augmentation,
    Classifier,
    accuracy,
    cross_entropy,
    extract_features,
    load_classifier,
    random_shift,
    save_classifier,
    to_model_scale,
    train_classifier,
)


@pytest.fixture(scope="module")
def trained(digits):
    """A small classifier trained 400 steps on shifted, dequantized training digits (~2 s)."""
    tr = digits.train
    torch.manual_seed(0)
    model = Classifier(1, channels=(16, 32), feature_dim=64)
    result = train_classifier(
        model,
        torch.as_tensor(tr.images[:1000]),
        torch.as_tensor(tr.labels[:1000]),
        digits.n_levels,
        to_model_scale(tr.images[1000:], digits.n_levels),
        torch.as_tensor(tr.labels[1000:]),
        n_iters=400,
        batch_size=64,
        lr=3e-3,
        generator=torch.Generator().manual_seed(0),
        augmentation=Augmentation(max_shift=1, dequantize=True),
        progress=False,
    )
    return model, result


def test_model_scale_is_the_mean_of_the_dequantized_images():
    x = torch.tensor([0, 8, 16], dtype=torch.uint8)
    centres = to_model_scale(x, 17)
    assert torch.allclose(centres, torch.tensor([1 / 17 - 1, 0.0, 1 - 1 / 17]))
    draws = dequantize(x.expand(20000, 3), 17, torch.Generator().manual_seed(0))
    # The mean of 20 000 uniform draws over a bin of width 2/17: s.e. 0.034 / sqrt(20000) = 2.4e-4.
    assert torch.allclose(draws.mean(0), centres, atol=1.5e-3)
    assert torch.equal(quantize(centres, 17), x)  # a bin centre quantizes back to its level


def test_random_shift_moves_each_image_within_the_bound():
    images = torch.zeros(200, 1, 8, 8)
    images[:, 0, 3, 4] = 1.0  # one bright pixel, away from the border
    moved = random_shift(images, 2, torch.Generator().manual_seed(0))
    position = moved[:, 0].flatten(1).argmax(1)
    rows, cols = position.div(8, rounding_mode="floor"), position % 8
    assert torch.equal(moved.sum((1, 2, 3)), images.sum((1, 2, 3)))  # nothing falls off
    dy, dx = rows - 3, cols - 4
    assert dy.abs().max() == 2 and dx.abs().max() == 2  # every offset in [-2, 2] is reached
    assert len({(a, b) for a, b in zip(dy.tolist(), dx.tolist(), strict=True)}) == 25
    assert torch.equal(random_shift(images, 0, torch.Generator()), images)


def test_random_shift_fills_with_zeros():
    images = torch.ones(50, 1, 4, 4)
    moved = random_shift(images, 1, torch.Generator().manual_seed(1))
    lost = 16 - moved.sum((1, 2, 3))  # pixels shifted out, replaced by 0
    assert lost.min() == 0 and lost.max() == 7  # a (1, 1) shift leaves 3 x 3 of 4 x 4


def test_classifier_learns_the_digits(digits, trained):
    model, result = trained
    te = digits.test
    test_accuracy = accuracy(model, to_model_scale(te.images, 17), te.labels)
    # Chance is 0.1; this small, short run reaches about 0.95 (the stage's default > 0.99).
    assert test_accuracy > 0.85, test_accuracy
    assert result.best_value == min(result.val_values)  # the lowest holdout cross-entropy
    holdout = to_model_scale(digits.train.images[1000:], 17)
    assert cross_entropy(model, holdout, digits.train.labels[1000:]) == pytest.approx(
        result.best_value
    )
    model.train()
    accuracy(model, to_model_scale(te.images[:10], 17), te.labels[:10])
    assert model.training  # evaluation restores the mode it found


def test_weight_decay_shrinks_the_weights(digits):
    tr = digits.train
    norms = []
    for wd in (0.0, 0.05):
        torch.manual_seed(0)
        model = Classifier(1, channels=(8,), feature_dim=16)
        train_classifier(
            model,
            torch.as_tensor(tr.images[:500]),
            torch.as_tensor(tr.labels[:500]),
            17,
            to_model_scale(tr.images[500:600], 17),
            torch.as_tensor(tr.labels[500:600]),
            n_iters=100,
            batch_size=32,
            lr=3e-3,
            weight_decay=wd,
            generator=torch.Generator().manual_seed(0),
            eval_every=100,
            progress=False,
        )
        norms.append(
            sum(p.pow(2).sum().item() for n, p in model.named_parameters() if "weight" in n)
        )
    assert norms[1] < 0.8 * norms[0], norms


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_classifier_is_size_agnostic(shape, batch_norm):
    model = Classifier(shape[0], channels=(4, 8), feature_dim=16, batch_norm=batch_norm).eval()
    x = torch.zeros(2, *shape)
    assert model(x).shape == (2, 10) and model.features(x).shape == (2, 16)


def test_classifier_rejects_bad_sizes():
    with pytest.raises(ValueError, match="dropout"):
        Classifier(1, dropout=1.0)


def test_save_and_load_classifier(tmp_path, trained):
    model, _ = trained
    save_classifier(tmp_path / "c.pt", model)
    loaded = load_classifier(tmp_path / "c.pt")
    x = torch.randn(5, 1, 8, 8)
    assert not loaded.training
    assert torch.equal(loaded.features(x), model.eval().features(x))
    batched = extract_features(loaded, x, batch_size=2)  # batches of 2: round-off only
    assert torch.allclose(batched, loaded.features(x).detach(), rtol=1e-5, atol=1e-6)
    assert np.isclose(loaded.sizes["dropout"], 0.0)
