"""Params of the train_score stage: UNet noise predictors on images by denoising score matching,
one per schedule (the same settings as train_flow's models)."""

from __future__ import annotations

from lib.params.train_flow import OptimParams


class TrainScoreParams(OptimParams):
    """Score s = -eps_hat / sigma_t from a noise predictor eps_hat (see lib/score_matching.py)."""


SCHEMA = TrainScoreParams
