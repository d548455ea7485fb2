from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ingest.errors import InvalidEventError
from ingest.events import build_event, event_id_for


def _fields(**over):
    base = {
        "event_id": "e1",
        "source": "web",
        "type": "page_view",
        "occurred_at": datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "identifiers": [{"type": "email", "value": " Ann@X.org "}, {"type": "email", "value": "ann@x.org"}],
    }
    return base | over


def test_times_become_utc_milliseconds() -> None:
    event = build_event(**_fields())
    assert event.occurred_at == datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


def test_identifiers_normalized_and_deduplicated() -> None:
    event = build_event(**_fields())
    assert [i.key for i in event.identifiers] == ["email:ann@x.org"]


def test_naive_time_refused_naming_the_field() -> None:
    with pytest.raises(InvalidEventError) as err:
        build_event(**_fields(occurred_at=datetime(2026, 3, 1)))
    assert err.value.field == "occurred_at"


def test_bad_identifier_names_its_position() -> None:
    with pytest.raises(InvalidEventError) as err:
        build_event(
            **_fields(identifiers=[{"type": "cookie", "value": "c"}, {"type": "phone", "value": "12"}])
        )
    assert err.value.field == "identifiers.1"
    assert "phone" in err.value.message


@pytest.mark.parametrize(
    ("field", "value"), [("type", "Page View"), ("source", "$where"), ("channel", "a.b")]
)
def test_names_that_become_mongo_fields_are_slugs(field: str, value: str) -> None:
    with pytest.raises(InvalidEventError) as err:
        build_event(**_fields(**{field: value}))
    assert err.value.field == field


def test_no_identifiers_refused() -> None:
    with pytest.raises(InvalidEventError, match="at least one identifier"):
        build_event(**_fields(identifiers=[]))


def test_amount_stays_exact() -> None:
    event = build_event(**_fields(amount=Decimal("0.10")))
    assert event.amount == Decimal("0.10") and str(event.amount) == "0.10"


def test_event_id_is_deterministic_and_source_scoped() -> None:
    assert event_id_for("web", "123") == event_id_for("web", "123")
    assert event_id_for("web", "123") != event_id_for("store", "123")
