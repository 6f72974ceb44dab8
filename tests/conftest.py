"""Tests use small tensors: one PyTorch thread is faster than several competing for tiny kernels."""

import pytest
import torch

from lib.images.data import load_image_data

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """The digits splits as the data stage makes them by default: train (1197), val (300),
    test (300), integer images 0..16."""
    return load_image_data("digits", None, False, 300, 300, 0)
