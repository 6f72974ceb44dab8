"""Tests use small tensors: one PyTorch thread is faster than several competing for tiny kernels."""

import torch

torch.set_num_threads(1)
