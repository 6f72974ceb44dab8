"""Params of the report stage."""

from __future__ import annotations

from pydantic import Field

from lib.params import Section


class ReportParams(Section):
    title: str = Field(min_length=1)
    author: str


SCHEMA = ReportParams
