"""Choices the pages offer, read through the store reader: studies, a study's as-of dates."""

from __future__ import annotations

from dashboards import queries
from dashboards.source import StoreReader


def study_ids(reader: StoreReader) -> list[str]:
    return reader.read(*queries.studies())


def study_as_of_choices(reader: StoreReader, study_id: str) -> list[str]:
    return reader.read(*queries.study_dates(study_id))
