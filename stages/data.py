"""Stage data: seeded train/validation/test splits of the 1D, 2D and image datasets."""

from __future__ import annotations

import numpy as np
import torch

from lib.data.toy import expected_log_likelihood, make_density, make_splits, negative_entropy_1d
from lib.images.data import load_image_data
from lib.infra import layout
from lib.infra.io import save_npz, sha256, write_json
from lib.infra.stage import run_stage
from lib.plots import data as data_plots

DATA = layout.DATA


def main(p, device, out):
    # Load images first: a missing local dataset should fail before anything is written.
    img = p.images
    try:
        images = load_image_data(
            img.dataset, img.root, img.download, img.n_val, img.n_test, p.seed, img.max_train
        )
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: data.images: {err}") from None
    metrics, files, overview_1d, overview_2d = {"one_d": {}, "two_d": {}}, {}, {}, {}
    for group, spec in (("one_d", p.one_d), ("two_d", p.two_d)):
        for name in spec.datasets:
            s = make_splits(name, spec.n_train, spec.n_val, spec.n_test, p.seed)
            path = DATA / group / f"{name}.npz"
            save_npz(path, train=s.train.numpy(), val=s.val.numpy(), test=s.test.numpy())
            files[str(path)] = sha256(path)
            m = {"n_train": len(s.train), "n_val": len(s.val), "n_test": len(s.test)}
            ell = expected_log_likelihood(name, s.test)
            if ell is not None:
                m |= {"test_log_likelihood": ell.mean, "test_log_likelihood_stderr": ell.stderr}
            if group == "one_d":
                m["negative_entropy"] = negative_entropy_1d(name)
                grid = torch.linspace(s.train.min() - 2, s.train.max() + 2, 500)[:, None]
                density = make_density(name).log_prob(grid).exp()
                overview_1d[name] = (s.train.numpy(), grid[:, 0].numpy(), density.numpy())
            else:
                overview_2d[name] = s.train.numpy()
            metrics[group][name] = m

    path = DATA / "images" / f"{img.dataset}.npz"
    save_npz(
        path,
        **{
            f"{split}_{field}": getattr(getattr(images, split), field)
            for split in ("train", "val", "test")
            for field in ("images", "labels")
        },
        n_levels=np.array(images.n_levels),
        n_classes=np.array(images.n_classes),
    )
    files[str(path)] = sha256(path)
    metrics["images"] = {
        img.dataset: {
            "n_train": len(images.train),
            "n_val": len(images.val),
            "n_test": len(images.test),
            "n_levels": images.n_levels,
            "shape": list(images.train.images.shape[1:]),
        }
    }

    data_plots.datasets_overview(overview_1d, overview_2d, out / "figures" / "datasets.pdf")
    data_plots.image_grid(
        images.train.images, images.train.labels, images.n_levels, out / "figures" / "images.png"
    )
    write_json(out / "manifest.json", {"sha256": files})
    return metrics


if __name__ == "__main__":
    run_stage("data", main)
