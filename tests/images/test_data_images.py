"""Tests for lib/image_data.py: sklearn digits, and tiny MNIST / CIFAR-10 files in real formats."""

import pickle
import struct

import numpy as np
import pytest
from sklearn.datasets import load_digits

from lib.images.data import IMAGE_DATASETS, load_image_data, load_image_npz


def _digits(n_val: int = 200, n_test: int = 300, seed: int = 0, max_train: int | None = None):
    return load_image_data("digits", None, False, n_val, n_test, seed, max_train)


def _tagged_images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Random uint8 images whose first pixel is their index, so shuffled images can be traced."""
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(n)
    return images


def _write_idx(path, array: np.ndarray) -> None:
    """Write a uint8 array in the idx format: big-endian magic 0x0800 | ndim, dims, then bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(folder, rng: np.random.Generator, n_train: int = 12, n_test: int = 5) -> dict:
    folder.mkdir(parents=True)
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = _tagged_images(rng, n, (28, 28))
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
        data[prefix] = (images, labels)
    return data


def _write_cifar(folder, rng: np.random.Generator, n_per_batch: int = 3, n_test: int = 4) -> dict:
    folder.mkdir(parents=True)
    data = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n = n_test if name == "test_batch" else n_per_batch
        flat = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        flat[:, 0] = np.arange(n) + i * n_per_batch  # index in the concatenated train set
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": flat,
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
        data[name] = (flat, np.array(labels))
    return data


def _sorted_rows(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """Each image with its label appended, as bytes, sorted: compares datasets as multisets."""
    rows = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
    return sorted(row.astype(np.uint8).tobytes() for row in rows)


def _assert_traced(split, images: np.ndarray, labels: np.ndarray) -> None:
    """Each image of the split equals the written image its first pixel points to."""
    index = split.images.reshape(len(split.images), -1)[:, 0].astype(int)
    np.testing.assert_array_equal(split.images, images[index])
    np.testing.assert_array_equal(split.labels, labels[index])


def test_digits_shapes_and_splits():
    data = _digits()
    assert (len(data.train.images), len(data.val.images), len(data.test.images)) == (1297, 200, 300)
    for split in (data.train, data.val, data.test):
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (1, 8, 8)
        assert split.labels.dtype == np.int64 and split.labels.shape == (len(split.images),)
    all_images = np.concatenate([data.train.images, data.val.images, data.test.images])
    assert all_images.max() == 16 and data.n_levels == 17 and data.n_classes == 10
    # The three splits together are a permutation of the 1797 images: disjoint and complete.
    # (Compared as sorted (image, label) rows, since a few digits images are duplicates.)
    all_labels = np.concatenate([data.train.labels, data.val.labels, data.test.labels])
    digits = load_digits()
    assert _sorted_rows(all_images, all_labels) == _sorted_rows(digits.images, digits.target)


def test_digits_deterministic_and_seeded():
    a, b, c = _digits(seed=3), _digits(seed=3), _digits(seed=4)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, split).images, getattr(b, split).images)
        np.testing.assert_array_equal(getattr(a, split).labels, getattr(b, split).labels)
    assert not np.array_equal(a.test.images, c.test.images)


def test_digits_max_train():
    data = _digits(max_train=10)
    np.testing.assert_array_equal(data.train.images, _digits().train.images[:10])


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_files_round_trip(tmp_path, name, folder):
    written = _write_mnist(tmp_path / folder / "raw", np.random.default_rng(0))
    data = load_image_data(name, str(tmp_path), False, n_val=4, n_test=999, seed=1)
    assert (len(data.train.images), len(data.val.images), len(data.test.images)) == (8, 4, 5)
    assert data.train.images.shape[1:] == (1, 28, 28) and data.train.images.dtype == np.uint8
    assert data.n_levels == 256 and data.n_classes == 10
    test_images, test_labels = written["t10k"]
    np.testing.assert_array_equal(data.test.images[:, 0], test_images)  # official order kept
    np.testing.assert_array_equal(data.test.labels, test_labels)
    train_images, train_labels = written["train"]
    for split in (data.train, data.val):
        _assert_traced(split, train_images[:, None], train_labels.astype(np.int64))
    seen = np.concatenate([data.train.images, data.val.images])[:, 0, 0, 0]
    assert sorted(seen) == list(range(12))
    again = load_image_data(name, str(tmp_path), False, n_val=4, n_test=0, seed=1, max_train=3)
    np.testing.assert_array_equal(again.train.images, data.train.images[:3])


def test_cifar10_files_round_trip(tmp_path):
    written = _write_cifar(tmp_path / "cifar-10-batches-py", np.random.default_rng(0))
    data = load_image_data("cifar10", str(tmp_path), False, n_val=5, n_test=0, seed=0)
    assert (len(data.train.images), len(data.val.images), len(data.test.images)) == (10, 5, 4)
    assert data.test.images.shape == (4, 3, 32, 32) and data.test.images.dtype == np.uint8
    flat, labels = written["test_batch"]
    # CHW order: channel c, row y, column x sits at flat index c * 1024 + y * 32 + x.
    assert data.test.images[2, 1, 5, 7] == flat[2, 1024 + 5 * 32 + 7]
    np.testing.assert_array_equal(data.test.images.reshape(4, -1), flat)
    np.testing.assert_array_equal(data.test.labels, labels)
    train_flat = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    train_labels = np.concatenate([written[f"data_batch_{i}"][1] for i in range(1, 6)])
    for split in (data.train, data.val):
        _assert_traced(split, train_flat.reshape(-1, 3, 32, 32), train_labels)


def test_unknown_name():
    with pytest.raises(ValueError, match="svhn") as info:
        load_image_data("svhn", None, False, 0, 0, 0)
    assert all(name in str(info.value) for name in IMAGE_DATASETS)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_root(name):
    with pytest.raises(ValueError, match="root"):
        load_image_data(name, None, False, 10, 0, 0)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_files_without_download(tmp_path, name):
    with pytest.raises(FileNotFoundError) as info:
        load_image_data(name, str(tmp_path), False, 10, 0, 0)
    message = str(info.value)
    assert str(tmp_path) in message and "download: true" in message


def test_n_val_too_large(tmp_path):
    with pytest.raises(ValueError, match="1797"):
        _digits(n_val=1000, n_test=797)
    with pytest.raises(ValueError, match="60000"):  # the official size: caught before any download
        load_image_data("mnist", str(tmp_path), True, 60000, 0, 0)
    _write_mnist(tmp_path / "MNIST" / "raw", np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_val = 12 .* at most 11"):  # the files' own size
        load_image_data("mnist", str(tmp_path), False, 12, 0, 0)


def test_stage_file_round_trip_and_exactly_one_dataset(tmp_path):
    """What the data stage writes is read back whole; an empty or ambiguous folder is refused."""
    data = load_image_data("digits", None, False, n_val=50, n_test=50, seed=0)
    arrays = {
        f"{split}_{field}": getattr(getattr(data, split), field)
        for split in ("train", "val", "test")
        for field in ("images", "labels")
    }
    with pytest.raises(FileNotFoundError, match="found \\[\\]"):
        load_image_npz(tmp_path)
    np.savez(tmp_path / "digits.npz", **arrays, n_levels=17, n_classes=10)
    name, back = load_image_npz(tmp_path)
    assert name == "digits" and back.n_levels == 17 and back.n_classes == 10
    assert np.array_equal(back.train.images, data.train.images)
    assert np.array_equal(back.test.labels, data.test.labels)
    np.savez(tmp_path / "mnist.npz", **arrays, n_levels=256, n_classes=10)
    with pytest.raises(FileNotFoundError, match="exactly one"):
        load_image_npz(tmp_path)
