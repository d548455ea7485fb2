"""A fresh, indexed operational store on the session's genuine MongoDB, for tests that need one."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from c360.settings import Settings
from operational.store import Store


@pytest.fixture
def store(settings: Settings, fresh_db: str) -> Store:
    store = Store.connect(MongoClient(settings.mongo.uri, tz_aware=True), fresh_db)
    store.ensure_indexes()
    return store
