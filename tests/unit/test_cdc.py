"""Debezium records of mapped tables through the ingest path (`translate`): every case file to the exact
row change, a corrupt variant of each to a dead letter with its reason, and the column conversions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ingest.cdc import change_to_canonical
from ingest.errors import MappingError
from ingest.events import CanonicalEvent
from ingest.mappings import TableMapping
from ingest.records import DeadLetter, Skipped, SourceRecord, translate
from tests.unit.debezium_cases import (
    CASES_DIR,
    CORRUPTIONS,
    EXPECTED,
    FLATTENED_FILES,
    MONGO_FILES,
    MONGO_KEY_FILE,
)

KAFKA_TS = 1_700_000_000_000
ANNE_EMAIL = ["email:annek@noanswer.org"]
# file -> (row key columns, expected op, row key, identity keys, expected columns); written from the files.
ROWS: dict[str, tuple[list[str], str, str | None, list[str], dict[str, Any]]] = {
    "dbz_test_serde_unknown_property.json": (["id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne"}),
    "dbz_test_serde_with_schema.json": (["id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne"}),
    "dbz_test_serde_without_schema.json": (["id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne"}),
    "mongo_create_with_schema.json": (["_id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne"}),
    "mongo_delete_payload.json": (["_id"], "delete", "[1004]", [], {}),
    "mongo_extractnewdocumentstate_output.json": (
        ["_id"], "upsert", "[1004]", ["customer_id:newvalue1"], {}
    ),
    "mongo_update_change_streams_payload.json": (
        ["_id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne Marie"}
    ),
    "mysql_create_with_schema.json": (["id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne"}),
    "mysql_delete_payload.json": (["id"], "delete", "[1004]", [], {}),
    "mysql_truncate_payload.json": (["id"], "truncate", None, [], {}),
    "mysql_tutorial_snapshot_read_with_schema.json": (
        ["id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne"}
    ),
    "mysql_update_payload.json": (["id"], "upsert", "[1004]", ANNE_EMAIL, {"first": "Anne Marie"}),
    "pg_create_with_schema.json": (["id"], "upsert", "[1]", ANNE_EMAIL, {"first": "Anne"}),
    "pg_decimal_mode_double_RECONSTRUCTED.json": (
        ["row_id"], "upsert", '["0ff624a0-66e4-4018-839f-3c758521ac8a"]', ["customer_id:2"],
        {"price": Decimal("146.36"), "ordered": datetime(2021, 9, 27, 8, 8, 22, 55000, tzinfo=UTC)},
    ),
    "pg_decimal_mode_string_RECONSTRUCTED.json": (
        ["row_id"], "upsert", '["0ff624a0-66e4-4018-839f-3c758521ac8a"]', ["customer_id:2"],
        {"price": Decimal("146.36"), "ordered": datetime(2021, 9, 27, 8, 8, 22, 55000, tzinfo=UTC)},
    ),
    "pg_delete_payload.json": (["id"], "delete", "[1]", [], {}),
    "pg_event_with_transaction_block.json": (["pk"], "upsert", '["2"]', ["customer_id:2"], {}),
    "pg_incremental_snapshot_read_payload.json": (["pk"], "upsert", '["1"]', ["customer_id:1"], {}),
    "pg_truncate_payload.json": (["id"], "truncate", None, [], {}),
    "pg_update_payload.json": (["id"], "upsert", "[1]", ANNE_EMAIL, {"first": "Anne Marie"}),
}  # fmt: skip
TOMBSTONES = {"mysql_tutorial_tombstone_value_legacy_envelope.json", "tombstone_value_null.json"}
VALUE_FILES = sorted(EXPECTED)


def _mapping(name: str) -> TableMapping:
    key = ROWS[name][0] if name in ROWS else ["id"]
    return TableMapping.model_validate(
        {
            "topic": name,
            "source": "cases",
            "table": "rows",
            "entity": "holding",
            "connector": "mongodb" if name in MONGO_FILES else None,
            "flattened": name in FLATTENED_FILES,
            "key": key,
            "identifiers": [
                {"type": "email", "field": "email", "required": False},
                {"type": "customer_id", "field": "buyer_id", "required": False},
                {"type": "customer_id", "field": "pk", "required": False},
                {"type": "customer_id", "field": "field1", "required": False},
            ],
            "columns": {
                "first": {"field": "first_name", "kind": "text"},
                "price": {"field": "price", "kind": "money"},
                "ordered": {"field": "order_date_utc", "kind": "datetime"},
            },
        }
    )


def _translate(name: str, value: bytes | None) -> Any:
    key = (CASES_DIR / MONGO_KEY_FILE).read_bytes() if name in MONGO_FILES else EXPECTED[name][0]
    record = SourceRecord(name, 0, 7, key, value, KAFKA_TS)
    return translate(record, {name: _mapping(name)}, 1_000_000)


def test_every_value_file_is_covered() -> None:
    assert set(VALUE_FILES) == set(ROWS) | TOMBSTONES


@pytest.mark.parametrize("name", VALUE_FILES)
def test_case_file_becomes_the_exact_row_change(name: str) -> None:
    raw = (CASES_DIR / name).read_bytes()
    result = _translate(name, None if name == "tombstone_value_null.json" else raw)
    if name in TOMBSTONES:
        assert isinstance(result, Skipped)
        return
    _, op, key, identities, columns = ROWS[name]
    assert isinstance(result, CanonicalEvent), result
    change = result.change
    assert change is not None
    assert (change.op, change.key, change.table, change.entity) == (op, key, "cases.rows", "holding")
    assert [i.key for i in result.identifiers] == identities
    assert change.row == columns
    position = EXPECTED[name][1].source.position
    if position is None:
        assert change.position is None
    else:  # positions compare as the tuples do: fixed-width numbers
        assert change.position == ".".join(str(part).zfill(20) for part in position)


@pytest.mark.parametrize("name", VALUE_FILES)
def test_corrupt_case_file_is_dead_lettered_with_a_reason(name: str) -> None:
    mutate, field = CORRUPTIONS[name]
    if mutate is None:
        raw = b"[null]"
    else:
        doc = json.loads((CASES_DIR / name).read_bytes())
        mutate(doc)
        raw = json.dumps(doc).encode()
    letter = _translate(name, raw)
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.field) == ("decode", field)
    assert letter.record.value == raw and letter.message


@pytest.mark.parametrize("name", sorted(ROWS))
def test_truncated_case_file_is_dead_lettered(name: str) -> None:
    raw = (CASES_DIR / name).read_bytes()
    letter = _translate(name, raw[: len(raw) // 2])
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "decode" and letter.message.startswith("not JSON")


def test_redelivery_has_the_same_event_id() -> None:
    raw = (CASES_DIR / "pg_update_payload.json").read_bytes()
    first, again = _translate("pg_update_payload.json", raw), _translate("pg_update_payload.json", raw)
    assert first.event_id == again.event_id
    created = _translate(
        "pg_create_with_schema.json", (CASES_DIR / "pg_create_with_schema.json").read_bytes()
    )
    assert created.event_id != first.event_id


def _pg_row(after: dict[str, Any], op: str = "c", **source: Any) -> bytes:
    source = {"connector": "postgresql", "lsn": 100, "ts_ms": 1_750_000_000_000, "table": "t", **source}
    return json.dumps({"before": None, "after": after, "source": source, "op": op}).encode()


def test_a_postgres_change_redelivered_after_a_restart_keeps_its_event_id() -> None:
    """The first event after a connector start says no last commit LSN; its re-delivery may say one."""
    mapping = _mapping("pg_create_with_schema.json")
    row = {"id": 1, "email": "annek@noanswer.org"}
    first = change_to_canonical(mapping, None, _pg_row(row, sequence='[null,"100"]'), 0, 10_000)
    again = change_to_canonical(mapping, None, _pg_row(row, sequence='["90","100"]', ts_ms=1), 0, 10_000)
    other = change_to_canonical(mapping, None, _pg_row(row, sequence='["110","120"]', lsn=120), 0, 10_000)
    assert first is not None and again is not None and other is not None
    assert first.event_id == again.event_id != other.event_id
    assert again.change.position < first.change.position < other.change.position


def test_holding_columns_are_typed_for_mongodb() -> None:
    mapping = TableMapping.model_validate(
        {
            "topic": "t",
            "source": "crm",
            "table": "product_holdings",
            "entity": "holding",
            "key": ["id"],
            "identifiers": [{"type": "customer_id", "field": "customer_id"}],
            "columns": {
                "limit": {"field": "credit_limit", "kind": "money"},
                "opened": {"field": "opened", "kind": "date"},
                "count": {"field": "n", "kind": "integer"},
                "product": {"field": "product_id", "kind": "text"},
                "extra": {"field": "missing"},
            },
        }
    )
    row = {
        "id": 9,
        "customer_id": " C-1 ",
        "credit_limit": "1000.50",
        "opened": 18263,
        "n": "3",
        "product_id": 7,
    }
    event = change_to_canonical(mapping, b'{"id": 9}', _pg_row(row), KAFKA_TS, 10_000)
    assert event is not None and event.change is not None
    assert event.change.row == {
        "limit": Decimal("1000.50"),
        "opened": "2020-01-02",
        "count": 3,
        "product": "7",
    }
    assert [i.key for i in event.identifiers] == ["customer_id:C-1"]
    assert event.occurred_at == datetime.fromtimestamp(1_750_000_000, UTC)
    with pytest.raises(MappingError) as caught:
        change_to_canonical(mapping, None, _pg_row({**row, "credit_limit": "lots"}), KAFKA_TS, 10_000)
    assert caught.value.field == "credit_limit"


def test_a_delete_without_the_key_in_its_image_takes_the_kafka_key() -> None:
    mapping = _mapping("pg_delete_payload.json")
    event = change_to_canonical(
        mapping, b'{"id": 5}', _pg_row(None, "d").replace(b'"before": null', b'"before": {}'), 0, 10_000
    )
    assert event is not None and event.change is not None and event.change.key == "[5]"
    with pytest.raises(MappingError) as caught:
        change_to_canonical(
            mapping, None, _pg_row(None, "d").replace(b'"before": null', b'"before": {}'), 0, 10_000
        )
    assert caught.value.field == "key"


def test_mapping_refuses_an_order_table_without_amount() -> None:
    with pytest.raises(ValueError, match="amount"):
        TableMapping.model_validate(
            {"topic": "t", "source": "s", "table": "o", "entity": "order", "key": ["id"],
             "identifiers": [{"type": "customer_id", "field": "c"}], "columns": {}}
        )  # fmt: skip
