"""Stage classifier: a CNN on the image data whose penultimate features define every FID."""

from __future__ import annotations

from pathlib import Path

import torch

from lib import fid
from lib.image_data import load_image_npz
from lib.io import write_csv
from lib.stage import run_stage, seeded_generator
from lib.unet import count_parameters

MODEL = Path("models") / "classifier" / "classifier.pt"


def main(p, device, out):
    name, data = load_image_npz(Path("data") / "images")
    k = data.n_levels

    def split(s):
        return fid.to_model_scale(s.images, k, device), torch.as_tensor(s.labels).long()

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = map(
        split, (data.train, data.val, data.test)
    )
    torch.manual_seed(p.seed)
    model = fid.Classifier(train_x.shape[1], data.n_classes, tuple(p.channels), p.feature_dim)
    model = model.to(device)
    result = fid.train_classifier(
        model,
        train_x,
        train_y,
        val_x,
        val_y,
        n_iters=p.n_iters,
        batch_size=p.batch_size,
        lr=p.lr,
        generator=seeded_generator(p.seed, torch.device("cpu")),
        lr_schedule=p.lr_schedule,
        eval_every=p.eval_every,
    )
    fid.save_classifier(MODEL, model)
    write_csv(
        out / "plots" / "train.csv",
        {"iteration": list(range(1, len(result.train_loss) + 1)), "loss": result.train_loss},
    )
    write_csv(
        out / "plots" / "val.csv", {"iteration": result.val_iters, "accuracy": result.val_accuracy}
    )
    return {
        "dataset": name,
        "test_accuracy": fid.accuracy(model, test_x, test_y),
        "val_accuracy": result.best_val_accuracy,
        "best_iter": result.best_iter,
        "n_test": len(test_x),
        "feature_dim": p.feature_dim,
        "n_parameters": count_parameters(model),
        "train_seconds": result.seconds,
    }


if __name__ == "__main__":
    run_stage("classifier", main)
