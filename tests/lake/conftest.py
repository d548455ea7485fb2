"""A private database and lake per test on the session's genuine MongoDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from c360.settings import Settings
from operational.store import Store


@pytest.fixture
def lake_settings(settings: Settings, fresh_db: str, tmp_path: Path) -> Settings:
    configured = settings.model_copy(deep=True)
    configured.mongo.database = fresh_db
    configured.lake.path = tmp_path / "lake"
    configured.lake.batch_size = 1_000
    configured.lake.batch_max_seconds = 0.2
    configured.lake.current_every_seconds = 0
    configured.lake.segments_file = tmp_path / "segments.yaml"
    configured.lake.exports_path = tmp_path / "exports"
    return configured


@pytest.fixture
def store(lake_settings: Settings) -> Iterator[Store]:
    store = Store.open(lake_settings.mongo.uri, lake_settings.mongo.database)
    store.ensure_indexes()
    try:
        yield store
    finally:
        store.close()
