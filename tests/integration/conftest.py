"""A fresh, indexed operational store on the session's genuine MongoDB, for tests that need one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from c360.settings import Settings
from ingest.events import build_event
from operational.store import Store
from operational.writer import ProfileWriter

T0 = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(settings: Settings, fresh_db: str) -> Store:
    store = Store.open(settings.mongo.uri, fresh_db)
    store.ensure_indexes()
    return store


@pytest.fixture
def stitched_store(settings: Settings, fresh_db: str) -> Iterator[Store]:
    """Ann: a store order by phone, a web login (cookie and email), then a CRM contact carrying both the
    phone and the email, which merges the two profiles (the phone's, older, survives)."""
    store = Store.open(settings.mongo.uri, fresh_db)
    store.ensure_indexes()
    writer = ProfileWriter(store)
    email = {"type": "email", "value": "ann@shop.co.uk"}
    writer.apply(
        [
            build_event(
                event_id="a1",
                source="store",
                type="order",
                occurred_at=T0,
                channel="store",
                identifiers=[{"type": "phone", "value": "+447911123456"}],
                amount=Decimal("19.99"),
            ),
            build_event(
                event_id="a2",
                source="web",
                type="login",
                occurred_at=T0 + timedelta(days=1),
                channel="web",
                identifiers=[{"type": "cookie", "value": "ck_9"}, email],
            ),
        ]
    )
    writer.apply(
        [
            build_event(
                event_id="a3",
                source="crm",
                type="contact",
                occurred_at=T0 + timedelta(days=2),
                identifiers=[{"type": "phone", "value": "07911 123456"}, email],
            )
        ]
    )
    yield store
    store.close()
