"""Expected decodings of every file in tests/cases/debezium/ (README.md there: sources and licence),
written down by reading each file.

Only the normalized source fields are spelled out; `raw` (the source block as received) is ANY here and
checked separately. Keys: the value files are decoded with the Kafka key a real record would carry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import ANY

from ingest.debezium import ChangeEvent, Source, Tombstone, Transaction

CASES_DIR = Path(__file__).resolve().parents[1] / "cases" / "debezium"

MYSQL_KEY_FILE = "mysql_key_with_schema.json"
MONGO_KEY_FILE = "mongo_key_with_schema.json"
CONNECT_DECIMAL_FILE = "connect_decimal_base64_precise.json"
FLATTENED_FILES = {"mongo_extractnewdocumentstate_output.json"}

PG_KEY = b'{"id": 1}'
MYSQL_KEY = b'{"id": 1004}'


def _source(
    connector: str | None,
    name: str | None,
    db: str | None,
    table: str | None,
    snapshot: str | None,
    ts: tuple[int | None, int | None, int | None],
    position: tuple[int, ...] | None,
    schema: str | None = None,
) -> Source:
    return Source(connector, name, db, schema, table, snapshot, *ts, position, ANY)


NO_SOURCE = Source(None, None, None, None, None, None, None, None, None, None, {})

ANNE = {"id": 1004, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
ANNE_MARIE = {**ANNE, "first_name": "Anne Marie"}
MONGO_ANNE = {"_id": 1004, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}

# The serde test files share one MySQL 0.10 source block.
SERDE_SOURCE = _source(
    "mysql", "mysql-server-1", "inventory", "customers", "false", (0, None, None), (3, 154, 0)
)

# The two RECONSTRUCTED files: one captured PostgreSQL 1.6.2 event, only `price` re-encoded.
LINEAGE_ROW = {
    "row_id": "0ff624a0-66e4-4018-839f-3c758521ac8a",
    "lineage": '{"rowId":"0ff624a0-66e4-4018-839f-3c758521ac8a","tableName":"order","parents":[]}',
    "ticker": "NASDAQ:AAPL",
    "quantity": 681,
    # MicroTimestamp 1632730102055000: 18897 days + 29302.055 s after the epoch.
    "order_date_utc": datetime(2021, 9, 27, 8, 8, 22, 55000, tzinfo=UTC),
    "buyer_id": 2,
    "seller_id": 1,
}
LINEAGE_SOURCE = _source(
    "postgresql", "lineage-server", "postgres", "order", "false", (1632726502065, None, None),
    (24045064, 24045064), schema="lineage",
)  # fmt: skip

# file name -> (Kafka key bytes, expected decoding)
EXPECTED: dict[str, tuple[bytes | None, ChangeEvent | Tombstone]] = {
    "dbz_test_serde_unknown_property.json": (
        MYSQL_KEY,
        ChangeEvent(
            "u",
            before={**ANNE, "first_name": "Anne-Marie", "middle_name": "L"},
            after={**ANNE, "middle_name": "L"},  # middle_name: schema drift, kept
            key={"id": 1004},
            source=SERDE_SOURCE,
            ts_ms=1465491411815,
        ),
    ),
    "dbz_test_serde_with_schema.json": (
        MYSQL_KEY,
        ChangeEvent(
            "c", None, ANNE, {"id": 1004}, SERDE_SOURCE, 1465491411815, 1465491411815000, 1465491411815000000
        ),
    ),
    "dbz_test_serde_without_schema.json": (
        MYSQL_KEY,
        ChangeEvent("c", None, ANNE, {"id": 1004}, SERDE_SOURCE, 1465491411815),
    ),
    "mongo_create_with_schema.json": (
        None,  # _decode_file passes mongo_key_with_schema.json as the key
        ChangeEvent(
            "c",
            before=None,
            after=MONGO_ANNE,
            key={"id": 1004},
            source=_source(
                "mongodb",
                "fulfillment",
                "inventory",
                "customers",
                "false",
                (1558965508000, 1558965508000000, 1558965508000000000),
                (1558965508000, 31),
            ),
            ts_ms=1558965515240,
            ts_us=1558965515240142,
            ts_ns=1558965515240142879,
        ),
    ),
    "mongo_delete_payload.json": (
        None,
        ChangeEvent(
            "d",
            before={**MONGO_ANNE, "first_name": "Anne Marie"},
            after=None,
            key={"id": 1004},
            source=_source(
                "mongodb",
                "fulfillment",
                "inventory",
                "customers",
                "true",
                (1558965508000, 1558965508000000, 1558965508000000000),
                (1558965508000, 6),
            ),
            ts_ms=1465495462115,
            ts_us=1465495462115748,
            ts_ns=1465495462115748263,
        ),
    ),
    "mongo_extractnewdocumentstate_output.json": (
        None,
        ChangeEvent(
            "r",  # no __op: the row's current state, an upsert
            before=None,
            after={"field1": "newvalue1", "field2": "newvalue2"},
            key={"id": 1004},
            # No source fields in the document; the connector is the hint the caller passes.
            source=Source("mongodb", None, None, None, None, None, None, None, None, None, {}),
            flattened=True,
        ),
    ),
    "mongo_update_change_streams_payload.json": (
        None,
        ChangeEvent(
            "u",
            before={**MONGO_ANNE, "first_name": "unknown"},
            after={**MONGO_ANNE, "first_name": "Anne Marie"},
            key={"id": 1004},
            source=_source(
                "mongodb",
                "fulfillment",
                "inventory",
                "customers",
                "false",
                (1558965508000, 1558965508000000, 1558965508000000000),
                (1558965508000, 1),
            ),
            ts_ms=1465491461815,
            ts_us=1465491461815698,
            ts_ns=1465491461815698142,
            updated_fields={"first_name": "Anne Marie"},
            removed_fields=None,
        ),
    ),
    "mysql_create_with_schema.json": (
        MYSQL_KEY,
        ChangeEvent(
            "c",
            before=None,
            after=ANNE,
            key={"id": 1004},
            source=_source(
                "mysql", "mysql-server-1", "inventory", "customers", "false", (0, 0, 0), (3, 154, 0)
            ),
            ts_ms=1465491411815,
            ts_us=1465491411815437,
            ts_ns=1465491411815437158,
        ),
    ),
    "mysql_delete_payload.json": (
        MYSQL_KEY,
        ChangeEvent(
            "d",
            before=ANNE_MARIE,
            after=None,
            key={"id": 1004},
            source=_source(
                "mysql",
                "mysql-server-1",
                "inventory",
                "customers",
                "false",
                (1465581902300, 1465581902300000, 1465581902300000000),
                (3, 805, 0),
            ),
            ts_ms=1465581902461,
            ts_us=1465581902461842,
            ts_ns=1465581902461842579,
        ),
    ),
    "mysql_truncate_payload.json": (
        None,  # a truncate has no row, so no key
        ChangeEvent(
            "t",
            before=None,
            after=None,
            key=None,
            source=_source(
                "mysql",
                "mysql-server-1",
                "inventory",
                "customers",
                "false",
                (1465581029100, 1465581029100000, 1465581029100000000),
                (3, 484, 0),
            ),
            ts_ms=1465581029523,
            ts_us=1465581029523468,
            ts_ns=1465581029523468471,
        ),
    ),
    "mysql_tutorial_snapshot_read_with_schema.json": (
        MYSQL_KEY,
        ChangeEvent(
            "r",
            before=None,
            after=ANNE,
            key={"id": 1004},
            # No connector field: "mysql" comes from the source schema's name; ts_sec 0 -> ts_ms 0.
            source=_source(
                "mysql", "dbserver1", "inventory", "customers", "true", (0, None, None), (3, 154, 0)
            ),
            ts_ms=1486500577691,
            ts_us=1486500577691547,
            ts_ns=1486500577691547930,
        ),
    ),
    "mysql_tutorial_tombstone_value_legacy_envelope.json": (MYSQL_KEY, Tombstone({"id": 1004})),
    "mysql_update_payload.json": (
        MYSQL_KEY,
        ChangeEvent(
            "u",
            before=ANNE,
            after=ANNE_MARIE,
            key={"id": 1004},
            source=_source(
                "mysql",
                "mysql-server-1",
                "inventory",
                "customers",
                "false",
                (1465581029100, 1465581029100000, 1465581029100000000),
                (3, 484, 0),
            ),
            ts_ms=1465581029523,
            ts_us=1465581029523758,
            ts_ns=1465581029523758914,
        ),
    ),
    "pg_create_with_schema.json": (
        PG_KEY,
        ChangeEvent(
            "c",
            before=None,
            after={"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
            key={"id": 1},
            # sequence ["24023119","24023128"]: last commit LSN first, then the change's lsn.
            source=_source(
                "postgresql",
                "PostgreSQL_server",
                "postgres",
                "customers",
                "true",
                (1559033904863, 1559033904863123, 1559033904863123000),
                (24023119, 24023128),
                schema="public",
            ),
            ts_ms=1559033904863,
            ts_us=1559033904863841,
            ts_ns=1559033904863841257,
        ),
    ),
    "pg_decimal_mode_double_RECONSTRUCTED.json": (
        b'{"row_id": "0ff624a0-66e4-4018-839f-3c758521ac8a"}',
        ChangeEvent(
            "c",
            before=None,
            after={**LINEAGE_ROW, "price": Decimal("146.36")},
            key={"row_id": "0ff624a0-66e4-4018-839f-3c758521ac8a"},
            source=LINEAGE_SOURCE,
            ts_ms=1632726502236,
            transaction=None,
        ),
    ),
    "pg_decimal_mode_string_RECONSTRUCTED.json": (
        None,
        ChangeEvent(
            "c",
            before=None,
            after={**LINEAGE_ROW, "price": "146.36"},  # string mode: the exact string, typed by the mapping
            key=None,
            source=LINEAGE_SOURCE,
            ts_ms=1632726502236,
        ),
    ),
    "pg_delete_payload.json": (
        PG_KEY,
        ChangeEvent(
            "d",
            before={"id": 1},
            after=None,
            key={"id": 1},
            source=_source(
                "postgresql",
                "PostgreSQL_server",
                "postgres",
                "customers",
                "false",
                (1559033904863, 1559033904863852, 1559033904863852000),
                (46523128, 46523128),
                schema="public",
            ),
            ts_ms=1465581902461,
            ts_us=1465581902461496,
            ts_ns=1465581902461496187,
        ),
    ),
    "pg_event_with_transaction_block.json": (
        b'{"pk": "2"}',
        ChangeEvent(
            "c",
            before=None,
            after={"pk": "2", "aa": "1"},
            key={"pk": "2"},
            source=NO_SOURCE,  # the documentation example has no source block at all
            ts_ms=1580390884335,
            ts_us=1580390884335451,
            ts_ns=1580390884335451325,
            transaction=Transaction("571:53195832", 1, 1),
        ),
    ),
    "pg_incremental_snapshot_read_payload.json": (
        b'{"pk": "1"}',
        ChangeEvent(
            "r",
            before=None,
            after={"pk": "1", "value": "New data"},
            key={"pk": "1"},
            source=Source(None, None, None, None, None, "incremental", None, None, None, None, ANY),
            ts_ms=1620393591654,
            ts_us=1620393591654547,
            ts_ns=1620393591654547920,
        ),
    ),
    "pg_truncate_payload.json": (
        None,
        ChangeEvent(
            "t",
            before=None,
            after=None,
            key=None,
            source=_source(
                "postgresql",
                "PostgreSQL_server",
                "postgres",
                "customers",
                "false",
                (1559033904863, 1559033904863112, 1559033904863112000),
                (46523128, 46523128),
                schema="public",
            ),
            ts_ms=1559033904961,
            ts_us=1559033904961654,
            ts_ns=1559033904961654789,
        ),
    ),
    "pg_update_payload.json": (
        PG_KEY,
        ChangeEvent(
            "u",
            before={"id": 1},  # REPLICA IDENTITY DEFAULT: the old image holds only the primary key
            after={
                "id": 1,
                "first_name": "Anne Marie",
                "last_name": "Kretchmar",
                "email": "annek@noanswer.org",
            },
            key={"id": 1},
            source=_source(
                "postgresql",
                "PostgreSQL_server",
                "postgres",
                "customers",
                "false",
                (1559033904863, 1559033904863769, 1559033904863769000),
                (24023128, 24023128),
                schema="public",
            ),
            ts_ms=1465584025523,
            ts_us=1465584025523514,
            ts_ns=1465584025523514964,
        ),
    ),
    "tombstone_value_null.json": (PG_KEY, Tombstone({"id": 1})),
}

MONGO_FILES = {name for name in EXPECTED if name.startswith("mongo_")}

# Raw source fields no normalized field covers, read off the files.
RAW_SOURCE_FIELDS: dict[str, dict[str, object]] = {
    "mysql_delete_payload.json": {
        "server_id": 223344,
        "query": "DELETE FROM customers WHERE id=1004",
        "gtid": None,
    },
    "pg_create_with_schema.json": {"txId": 555, "lsn": 24023128, "sequence": '["24023119","24023128"]'},
    "pg_decimal_mode_double_RECONSTRUCTED.json": {"version": "1.6.2.Final", "txId": 580, "xmin": None},
    "mongo_update_change_streams_payload.json": {"rs": "rs0", "txnNumber": 1, "tord": None},
    "mysql_tutorial_snapshot_read_with_schema.json": {"ts_sec": 0, "thread": None},
}


# --- a corrupt variant of every file -------------------------------------------------------------------


def _payload(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["payload"] if doc.keys() == {"schema", "payload"} else doc


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets payload field `path` (dotted) to `value`."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = _payload(doc)
        for part in parents:
            target = target[part]
        target[last] = value

    return mutate


def _set_top(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.__setitem__(field, value)


def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(field)


# file -> (mutation of the parsed file, the field the DecodeError must name)
CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    CONNECT_DECIMAL_FILE: (_set_top("payload", "A*w="), "payload"),  # not base64
    "dbz_test_serde_unknown_property.json": (_set("before", 42), "before"),
    "dbz_test_serde_with_schema.json": (_drop("payload"), "payload"),
    "dbz_test_serde_without_schema.json": (_set("op", 1), "op"),
    "mongo_create_with_schema.json": (_set("after", '{"_id": {"$numberLong": "1004"'), "after"),
    "mongo_delete_payload.json": (_set("before", '{"_id": {"$numberLong": "ten"}}'), "before"),
    "mongo_extractnewdocumentstate_output.json": (_set("__op", "x"), "__op"),
    MONGO_KEY_FILE: (_set("id", '{"$oid": 12}'), "key.id"),
    "mongo_update_change_streams_payload.json": (
        _set("updateDescription.updatedFields", 5),
        "updateDescription.updatedFields",
    ),
    "mysql_create_with_schema.json": (_set("source.ts_ms", "soon"), "source.ts_ms"),
    "mysql_delete_payload.json": (_set("op", "x"), "op"),
    MYSQL_KEY_FILE: (_drop("payload"), "key.payload"),
    "mysql_truncate_payload.json": (_drop("op"), "op"),
    "mysql_tutorial_snapshot_read_with_schema.json": (_set("after", []), "after"),
    "mysql_tutorial_tombstone_value_legacy_envelope.json": (_drop("payload"), "payload"),
    "mysql_update_payload.json": (_set("ts_ms", "12a"), "ts_ms"),
    "pg_create_with_schema.json": (_set("source.lsn", "0/16B3748"), "source.lsn"),
    "pg_decimal_mode_double_RECONSTRUCTED.json": (_set("after.price", "cheap"), "after.price"),
    "pg_decimal_mode_string_RECONSTRUCTED.json": (
        _set("after.order_date_utc", "today"),
        "after.order_date_utc",
    ),
    "pg_delete_payload.json": (_set("before", 1), "before"),
    "pg_event_with_transaction_block.json": (
        _set("transaction.total_order", "one"),
        "transaction.total_order",
    ),
    "pg_incremental_snapshot_read_payload.json": (_set("source.snapshot", 1), "source.snapshot"),
    "pg_truncate_payload.json": (_set("source", 5), "source"),
    "pg_update_payload.json": (_set("after", 3), "after"),
    "tombstone_value_null.json": (None, "$"),  # null has no fields: a non-object value instead
}
