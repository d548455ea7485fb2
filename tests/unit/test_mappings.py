import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.mappings import MappingFile, load_mapping_file
from ingest.records import DeadLetter, SourceRecord, translate

MAPPINGS = load_mapping_file().for_topic()


def _record(topic: str, value: bytes | None) -> SourceRecord:
    return SourceRecord(topic, 0, 7, b"k", value, 0)


def _translate(topic: str, payload: object):
    return translate(_record(topic, json.dumps(payload).encode()), MAPPINGS, 10_000)


def test_transaction_maps_exactly() -> None:
    event = _translate(
        "corebank.transactions",
        {
            "txn_id": "TX-1",
            "account": " ACC-00012345 ",
            "amount": "123.45",
            "currency": "GBP",
            "dc": "D",
            "channel": "mobile",
            "mcc": "5411",
            "booked_at": "2026-11-20T10:11:12.345+01:00",
        },
    )
    assert not isinstance(event, DeadLetter)
    assert event.type == "transaction" and event.channel == "mobile"
    assert event.amount == Decimal("123.45")
    assert event.occurred_at == datetime(2026, 11, 20, 9, 11, 12, 345000, tzinfo=UTC)
    assert [i.key for i in event.identifiers] == ["account_id:ACC-00012345"]
    assert event.attributes == {"direction": "debit", "merchant_category": "5411"}


def test_json_number_money_is_exact() -> None:
    raw = b'{"order_id": "O1", "phone": "07911 123456", "total": 0.10, "ordered_at": 1763633472}'
    event = translate(_record("store.orders", raw), MAPPINGS, 10_000)
    assert not isinstance(event, DeadLetter)
    assert event.amount == Decimal("0.10")
    assert event.occurred_at == datetime(2025, 11, 20, 10, 11, 12, tzinfo=UTC)
    assert event.identifiers[0].key == "phone:+447911123456"


def test_login_links_cookie_and_email_and_maps_action() -> None:
    event = _translate(
        "web.clickstream",
        {
            "event_id": "u1",
            "cookie": "ck_1",
            "user_email": " Ann@Gmail.com",
            "action": "login",
            "url": "/",
            "ts": 1763633472123,
            "device": "mobile",
            "error": None,
        },
    )
    assert not isinstance(event, DeadLetter)
    assert event.type == "login"
    assert {i.key for i in event.identifiers} == {"cookie:ck_1", "email:ann@gmail.com"}
    assert event.occurred_at == datetime(2025, 11, 20, 10, 11, 12, 123000, tzinfo=UTC)


def test_naive_timestamp_read_in_declared_zone() -> None:
    event = _translate(
        "marketing.email",
        {
            "message_id": "m1@mail",
            "recipient": "ann@gmail.com",
            "event": "opened",
            "timestamp": "2026-11-20 10:11:12",
        },
    )
    assert not isinstance(event, DeadLetter)
    assert event.occurred_at == datetime(2026, 11, 20, 10, 11, 12, tzinfo=UTC)
    assert event.type == "email_opened"


def test_customer_master_carries_every_identifier() -> None:
    event = _translate(
        "corebank.customers",
        {
            "customer_no": "CUST-1",
            "accounts": ["ACC-1", "ACC-2"],
            "email": "a@gmail.com",
            "mobile": "+447911123456",
            "updated_at": "2026-01-01T00:00:00Z",
            "version": 1,
        },
    )
    assert not isinstance(event, DeadLetter)
    assert {i.key for i in event.identifiers} == {
        "customer_id:CUST-1",
        "account_id:ACC-1",
        "account_id:ACC-2",
        "email:a@gmail.com",
        "phone:+447911123456",
    }


def test_same_record_same_event_id_different_record_different_id() -> None:
    payload = {
        "message_id": "m1",
        "recipient": "a@gmail.com",
        "event": "sent",
        "timestamp": "2026-11-20 10:11:12",
    }
    first, again = _translate("marketing.email", payload), _translate("marketing.email", payload)
    opened = _translate("marketing.email", payload | {"event": "opened"})
    assert first.event_id == again.event_id != opened.event_id


@pytest.mark.parametrize(
    ("topic", "value", "reason", "field"),
    [
        ("corebank.transactions", b"{not json", "decode", "$"),
        ("corebank.transactions", b"\xff\xfe\x00binary", "decode", "$"),
        ("corebank.transactions", None, "decode", "$"),
        ("corebank.transactions", b"[1, 2]", "mapping", "$"),
        (
            "corebank.transactions",
            b'{"txn_id": "T", "account": "A", "amount": [1], "currency": "GBP", "dc": "D", '
            b'"channel": "atm", "booked_at": "2026-01-01T00:00:00Z"}',
            "mapping",
            "amount",
        ),
        (
            "corebank.transactions",
            b'{"txn_id": "T", "account": "A", "amount": "12", "currency": "GBP", "dc": "D", '
            b'"channel": "atm", "booked_at": "2026-01-01T00:00:00"}',
            "mapping",
            "booked_at",
        ),
        ("corebank.transactions", b'{"txn_id": "T", "account": "A", "amount": NaN}', "decode", "$"),
        (
            "web.clickstream",
            b'{"event_id": "1", "cookie": "c", "action": "hover", "ts": 1}',
            "mapping",
            "action",
        ),
        ("web.clickstream", b'{"event_id": "1", "action": "login", "ts": 1}', "mapping", "cookie"),
        (
            "web.clickstream",
            b'{"event_id": "1", "cookie": "c", "action": "login", "ts": "soon"}',
            "mapping",
            "ts",
        ),
        (
            "marketing.email",
            b'{"message_id": "m", "recipient": "nobody", "event": "sent", "timestamp": "2026-01-01"}',
            "invalid_event",
            "identifiers.0",
        ),
        (
            "store.orders",
            b'{"order_id": "O", "phone": "07911 123456", "total": true, "ordered_at": 1}',
            "mapping",
            "total",
        ),
        ("unknown.topic", b"{}", "unmapped_topic", "topic"),
    ],
)
def test_bad_input_becomes_a_dead_letter_with_reason(topic, value, reason, field) -> None:
    result = translate(_record(topic, value), MAPPINGS, 10_000)
    assert isinstance(result, DeadLetter)
    assert (result.reason, result.field) == (reason, field)
    assert result.record.value == value


def test_oversize_message_refused() -> None:
    result = translate(_record("web.clickstream", b" " * 20_001), MAPPINGS, 20_000)
    assert isinstance(result, DeadLetter) and "exceeds" in result.message


def test_mapping_file_rejects_duplicate_topics_and_ambiguous_values(tmp_path: Path) -> None:
    entry = {
        "topic": "t",
        "source": "s",
        "type": {"const": "x"},
        "occurred_at": {"field": "ts"},
        "identifiers": [{"type": "cookie", "field": "c"}],
    }
    with pytest.raises(ValidationError, match="once"):
        MappingFile.model_validate({"sources": [entry, entry]})
    with pytest.raises(ValidationError, match="exactly one"):
        MappingFile.model_validate({"sources": [entry | {"type": {"const": "x", "field": "y"}}]})
    with pytest.raises(ValidationError, match="identifier"):
        MappingFile.model_validate(
            {"sources": [entry | {"identifiers": [{"type": "shoe_size", "field": "c"}]}]}
        )
