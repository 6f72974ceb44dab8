"""Stage classifier: a CNN on the training images whose penultimate features define every
sample-quality metric. It never sees the validation and test splits (the metrics' real sets):
a slice of the training split selects its weights, and its accuracy is measured on the others."""

from __future__ import annotations

import torch

from lib.images import classifier
from lib.images.data import load_image_npz
from lib.infra import layout
from lib.infra.stage import run_stage, seeded_generator
from lib.nets.unet import count_parameters
from lib.training.curves import log_curves

MODEL = layout.CLASSIFIER


def main(p, device, out):
    name, data = load_image_npz(layout.IMAGES)
    k, n_train = data.n_levels, len(data.train) - p.n_holdout
    if n_train < p.batch_size:
        raise SystemExit(
            f"error: classifier.n_holdout = {p.n_holdout} leaves {n_train} of the "
            f"{len(data.train)} training images, fewer than batch_size = {p.batch_size}"
        )
    train, holdout = data.train.take(0, n_train), data.train.take(n_train)

    def scaled(split):
        return classifier.to_model_scale(split.images, k, device), torch.as_tensor(split.labels)

    torch.manual_seed(p.seed)
    model = classifier.Classifier(
        train.images.shape[1],
        data.n_classes,
        tuple(p.channels),
        p.feature_dim,
        p.dropout,
        p.batch_norm,
    ).to(device)
    result = classifier.train_classifier(
        model,
        torch.as_tensor(train.images, device=device),
        torch.as_tensor(train.labels).long(),
        k,
        *scaled(holdout),
        n_iters=p.n_iters,
        batch_size=p.batch_size,
        lr=p.lr,
        generator=seeded_generator(p.seed, torch.device("cpu")),
        augmentation=classifier.Augmentation(p.max_shift, p.dequantize),
        weight_decay=p.weight_decay,
        label_smoothing=p.label_smoothing,
        lr_schedule=p.lr_schedule,
        eval_every=p.eval_every,
    )
    classifier.save_classifier(MODEL, model)
    log_curves(
        out, "classifier", result.train_loss, result.val_iters, result.val_values, "cross_entropy"
    )
    test_x, test_y = scaled(data.test)
    val_x, val_y = scaled(data.val)
    return {
        "dataset": name,
        "test_accuracy": classifier.accuracy(model, test_x, test_y),
        "val_accuracy": classifier.accuracy(model, val_x, val_y),
        "holdout_accuracy": classifier.accuracy(model, *scaled(holdout)),
        "holdout_cross_entropy": result.best_value,
        "best_iter": result.best_iter,
        "n_train": n_train,
        "n_holdout": p.n_holdout,
        "n_test": len(test_x),
        "n_val": len(val_x),
        "feature_dim": p.feature_dim,
        "n_parameters": count_parameters(model),
        "train_seconds": result.seconds,
    }


if __name__ == "__main__":
    run_stage("classifier", main)
