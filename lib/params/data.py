"""Params of the data stage: 1D, 2D and image datasets and their splits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lib.data.toy import DATASETS_1D, DATASETS_2D
from lib.images.data import IMAGE_DATASETS
from lib.params import PositiveInt, Section, Seed


class Splits(Section):
    n_train: PositiveInt
    n_val: PositiveInt
    n_test: PositiveInt


class OneDParams(Splits):
    datasets: list[Literal[tuple(DATASETS_1D)]] = Field(min_length=1)  # type: ignore[valid-type]


class TwoDParams(Splits):
    datasets: list[Literal[tuple(DATASETS_2D)]] = Field(min_length=1)  # type: ignore[valid-type]


class ImageParams(Section):
    dataset: Literal[IMAGE_DATASETS]  # type: ignore[valid-type]
    root: str | None
    download: bool
    n_val: PositiveInt
    n_test: PositiveInt
    max_train: PositiveInt | None

    @model_validator(mode="after")
    def _root_for_torchvision(self):
        if self.dataset != "digits" and self.root is None:
            raise ValueError(
                f"dataset {self.dataset!r} is read through torchvision and needs `root` "
                "(a folder holding it, or where to download it with download: true)"
            )
        return self


class DataParams(Section):
    seed: Seed
    one_d: OneDParams
    two_d: TwoDParams
    images: ImageParams


SCHEMA = DataParams
