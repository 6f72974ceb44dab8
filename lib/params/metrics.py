"""Params of the metrics stage: none, it only gathers the stages' headline numbers."""

from __future__ import annotations

from lib.params import Section


class MetricsParams(Section):
    pass


SCHEMA = MetricsParams
