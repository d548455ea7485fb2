"""The sync's fast Extended JSON against pymongo's own `json_util.dumps` (the reference implementation)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from bson import json_util
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from sync.convert import _JSON, to_json

DOCUMENTS = [
    {
        "_id": "p1",
        "times": [
            datetime(2026, 7, 30, 23, 53, 22, tzinfo=UTC),
            datetime(2026, 8, 6, 1, 36, 54, 57000, tzinfo=UTC),
            datetime(2026, 8, 6, 1, 36, 54, 999999, tzinfo=UTC),
            datetime(2026, 8, 6, 1, 36, 54, 999),
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(2026, 8, 6, 3, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        ],
        "money": [Decimal128("12.340000"), Decimal128("-0.5"), Decimal128("NaN"), Decimal128("-Infinity")],
        "numbers": [1, -(2**63), Int64(2**40), 1.5, float("nan"), float("-inf"), True, None],
        "nested": {"a": {"b": [{"c": "é\u2028\"'"}], "t": (1, 2)}},
        "oid": ObjectId("65f0c0ffee00000000000001"),
        "bin": Binary(b"\x00\x01", 0),
        "uuid": Binary.from_uuid(uuid.UUID(int=7)),
        "bytes": b"raw",
        "ts": Timestamp(1795556898, 2056),
        "regex": Regex("^a", "i"),
    },
    {"tags": {"b", "a"}},  # a set: json_util walks it as a list
    {"finite": [0.1, 2.0, -0.0], "empty": {}, "list": []},
]


def test_to_json_writes_exactly_what_json_util_writes() -> None:
    for doc in DOCUMENTS:
        assert to_json(doc) == json_util.dumps(doc, json_options=_JSON)
    for i, value in enumerate(DOCUMENTS[0]["times"]):
        assert to_json({"t": value}) == json_util.dumps({"t": value}, json_options=_JSON), i
