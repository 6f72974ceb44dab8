"""Image datasets (sklearn digits, MNIST, Fashion-MNIST, CIFAR-10) as raw uint8 numpy arrays,
split deterministically into train / validation / test."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from torchvision import datasets

IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")

# name: (number of intensity levels, images in the official train set, or in all of digits)
_INFO = {
    "digits": (17, 1797),
    "mnist": (256, 60000),
    "fashion_mnist": (256, 60000),
    "cifar10": (256, 50000),
}
_N_CLASSES = 10  # all four datasets have ten classes
_MNIST_CLASSES = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}
_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_FILE = "test_batch"


@dataclass(frozen=True)
class ImageSplit:
    images: np.ndarray  # (N, C, H, W) uint8, raw integer intensities 0..n_levels-1
    labels: np.ndarray  # (N,) int64 class labels

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, start: int, stop: int | None = None) -> ImageSplit:
        """Images start..stop (a contiguous slice, so it costs nothing)."""
        return ImageSplit(self.images[start:stop], self.labels[start:stop])


@dataclass(frozen=True)
class ImageData:
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    n_levels: int  # distinct intensity levels: 17 for digits (0..16), 256 for the others
    n_classes: int


def load_image_data(
    name: str,
    root: str | None,
    download: bool,
    n_val: int,
    n_test: int,
    seed: int,
    max_train: int | None = None,
) -> ImageData:
    """Load dataset `name` and split it; the same arguments always give identical arrays.

    digits (no official split, `root`/`download` ignored): a seeded permutation of the 1797 images
    gives n_test test images, then n_val validation images, the rest train.
    mnist, fashion_mnist, cifar10: the official test set is the test split and n_test is ignored;
    n_val validation images are drawn (seeded permutation) from the official train set, the rest
    are train. `root` holds the files (torchvision's layout); `download` fetches them if missing.
    max_train, if given, keeps only the first max_train (shuffled) training images.
    """
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose one of {IMAGE_DATASETS}")
    if max_train is not None and max_train < 1:
        raise ValueError(f"max_train must be None or at least 1, got {max_train}")
    n_levels, n_official = _INFO[name]
    _check_sizes(name, n_val, n_test, n_official)  # fail before any download

    if name == "digits":
        digits = _shuffle(_load_digits(), seed)
        test, val = digits.take(0, n_test), digits.take(n_test, n_test + n_val)
        train = digits.take(n_test + n_val)
    else:
        if root is None:
            raise ValueError(
                f"dataset {name!r} needs `root`: a folder holding its files, "
                "or where to put them with `download: true`"
            )
        load = _load_cifar10 if name == "cifar10" else _load_mnist
        official_train, test = load(name, root, download)
        _check_sizes(name, n_val, n_test, len(official_train))  # the files may be a subset
        official_train = _shuffle(official_train, seed)
        val, train = official_train.take(0, n_val), official_train.take(n_val)

    if max_train is not None:
        train = train.take(0, max_train)
    return ImageData(train=train, val=val, test=test, n_levels=n_levels, n_classes=_N_CLASSES)


def _check_sizes(name: str, n_val: int, n_test: int, n_images: int) -> None:
    """Raise if the held-out images would leave no training image out of n_images."""
    if n_val < 0 or n_test < 0:
        raise ValueError(f"n_val and n_test must be >= 0, got n_val={n_val}, n_test={n_test}")
    what, held_out = ("n_val + n_test", n_val + n_test) if name == "digits" else ("n_val", n_val)
    if held_out >= n_images:
        raise ValueError(
            f"{what} = {held_out} is too large for {name!r}: it has {n_images} images to split, "
            f"so {what} must be at most {n_images - 1} to leave at least one training image"
        )


def _shuffle(split: ImageSplit, seed: int) -> ImageSplit:
    """The split in the order of a permutation drawn from `seed`."""
    perm = np.random.default_rng(seed).permutation(len(split))
    return ImageSplit(split.images[perm], split.labels[perm])


def _missing_files_error(name: str, folder: str, missing: list[str]) -> FileNotFoundError:
    """The error for dataset files absent from `folder`, saying how to get them."""
    return FileNotFoundError(
        f"{name}: missing {', '.join(missing)} in {folder}. Set `download: true` to fetch them, "
        f"or point `root` at a folder that holds them there."
    )


def _load_digits() -> ImageSplit:
    """All 1797 sklearn digits, (N, 1, 8, 8) uint8 with values 0..16."""
    digits = load_digits()
    images = digits.images.astype(np.uint8)[:, None]
    return ImageSplit(images, digits.target.astype(np.int64))


def _load_mnist(name: str, root: str, download: bool) -> tuple[ImageSplit, ImageSplit]:
    """The official (train, test) sets of MNIST or Fashion-MNIST, read by torchvision."""
    cls = _MNIST_CLASSES[name]
    folder = os.path.join(root, cls.__name__, "raw")  # where torchvision looks for the files
    missing = [f for f in _MNIST_FILES if not os.path.isfile(os.path.join(folder, f))]
    if missing and not download:
        raise _missing_files_error(name, folder, missing)
    splits = []
    for train in (True, False):
        dataset = cls(root, train=train, download=download)
        images = dataset.data.numpy().astype(np.uint8)[:, None]
        splits.append(ImageSplit(images, dataset.targets.numpy().astype(np.int64)))
    return splits[0], splits[1]


def _load_cifar10(name: str, root: str, download: bool) -> tuple[ImageSplit, ImageSplit]:
    """The official (train, test) sets of CIFAR-10, read from the python pickles.

    torchvision's CIFAR10 checks the files' MD5 sums, so it is used only to download.
    """
    folder = os.path.join(root, _CIFAR_FOLDER)
    files = (*_CIFAR_TRAIN_FILES, _CIFAR_TEST_FILE)
    missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
    if missing and download:
        datasets.CIFAR10(root, train=True, download=True)
    elif missing:
        raise _missing_files_error(name, folder, missing)
    batches = [_read_cifar_batch(os.path.join(folder, f)) for f in _CIFAR_TRAIN_FILES]
    train = ImageSplit(
        np.concatenate([b.images for b in batches]), np.concatenate([b.labels for b in batches])
    )
    return train, _read_cifar_batch(os.path.join(folder, _CIFAR_TEST_FILE))


def _read_cifar_batch(path: str) -> ImageSplit:
    """One CIFAR-10 batch file: a pickled dict with b"data" (N, 3072) uint8 CHW and b"labels"."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return ImageSplit(images, np.asarray(batch[b"labels"], dtype=np.int64))


def load_image_npz(folder) -> tuple[str, ImageData]:
    """(dataset name, arrays) of the one `<name>.npz` the data stage wrote into `folder`."""
    files = sorted(Path(folder).glob("*.npz"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"{folder}: expected exactly one image dataset (.npz) written by the data stage, "
            f"found {[f.name for f in files]}"
        )
    with np.load(files[0], allow_pickle=False) as f:
        splits = [ImageSplit(f[f"{s}_images"], f[f"{s}_labels"]) for s in ("train", "val", "test")]
        data = ImageData(*splits, n_levels=int(f["n_levels"]), n_classes=int(f["n_classes"]))
    return files[0].stem, data
