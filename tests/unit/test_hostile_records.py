"""The hostile records found by trying c360 as an attacker would (issue 16), each written by hand: a dead
letter with its reason and field, never an exception, and within the per-record cost bound."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from c360.dead_letters import HEADER_PREFIX, dead_letter_headers, fitted
from ingest.events import CanonicalEvent
from ingest.mappings import MappingFile, load_mapping_file
from ingest.records import DeadLetter, SourceRecord, translate
from profiles.rebuild import rebuild_updates

MAPPINGS = load_mapping_file().for_topic()
MB = 1_000_000
USERS = "retail.retail.users"
HOLDINGS = "crm.public.product_holdings"
CLICKS = "web.clickstream"


def run(topic: str, value: bytes | None, key: bytes | None = None, mappings: Any = None) -> Any:
    return translate(SourceRecord(topic, 0, 0, key, value, 1_767_225_600_000), mappings or MAPPINGS, MB)


def mongo(after: str, **source: Any) -> bytes:
    block = {"connector": "mongodb", "ts_ms": 1558965508000, "ord": 1, "rs": "rs0", "collection": "users"}
    return json.dumps({"op": "c", "after": after, "source": block | source}).encode()


def click(**fields: Any) -> bytes:
    return json.dumps({"event_id": "e1", "cookie": "ck_1", "action": "page_view", "ts": 1} | fields).encode()


def holding(**row: Any) -> bytes:
    after = {"id": 1, "customer_id": "C1", "product_id": "p1"} | row
    source = {"connector": "postgresql", "lsn": 10, "ts_ms": 1_767_225_600_000}
    return json.dumps({"op": "c", "after": after, "source": source}).encode()


PATCH = {
    "op": "u",
    "after": None,
    "patch": '{"$set": {"email": "x@y.co"}}',
    "filter": '{"_id": "u1"}',
    "source": {"connector": "mongodb", "ts_ms": 1, "ord": 1},
}
DOTTED_DEEP = json.loads('{"a":' * 20 + '{"b.c": 1}' + "}" * 20)
REFUSED = [
    (
        "decimal that is not a number",
        USERS,
        mongo('{"_id": 1, "x": {"$numberDecimal": "abc"}}'),
        "decode",
        "after",
    ),
    (
        "decimal beyond Decimal128",
        USERS,
        mongo('{"_id": 1, "x": {"$numberDecimal": "1e99999"}}'),
        "decode",
        "after",
    ),
    ("source.ts_ms out of range", USERS, mongo('{"_id": "u1"}', ts_ms=10**15), "mapping", "source.ts_ms"),
    (
        "1e1000000 as a time",
        USERS,
        mongo('{"_id": "u1"}', ts_ms="@").replace(b'"@"', b"1e1000000"),
        "decode",
        "$",
    ),
    (
        "invalid $binary",
        USERS,
        mongo('{"_id": 1, "a": {"$binary": {"base64": "!!", "subType": "0"}}}'),
        "decode",
        "after",
    ),
    (
        "invalid legacy $binary",
        USERS,
        mongo('{"_id": 1, "a": {"$binary": "AJw", "$type": "00"}}'),
        "decode",
        "after",
    ),
    (
        "$date out of range",
        USERS,
        mongo('{"_id": 1, "d": {"$date": {"$numberLong": "999999999999999999"}}}'),
        "decode",
        "after",
    ),
    ("lone surrogate", CLICKS, click(device="\ud800"), "decode", "$"),
    ("lone surrogate in a name", CLICKS, b'{"\\udfff": 1, "event_id": "e1"}', "decode", "$"),
    ("5,000-digit integer", CLICKS, click(ts="@").replace(b'"@"', b"9" * 5000), "decode", "$"),
    ("1e1000000 as epoch ms", CLICKS, click(ts="@").replace(b'"@"', b"1e1000000"), "decode", "$"),
    ("nested 100 deep", CLICKS, click(d="@").replace(b'"@"', b"[" * 100 + b"]" * 100), "decode", "$"),
    (
        "$set deep in an attribute",
        CLICKS,
        click(device=[[[[{"x": {"$set": {"p": 0}}}]]]]),
        "invalid_event",
        "attributes.device.0.0.0.0.x.$set",
    ),
    (
        "dotted key deep beside a wide array",
        CLICKS,
        click(device=[0] * 40 + [DOTTED_DEEP]),
        "invalid_event",
        "attributes.device.40",
    ),
    ("integer beyond 64 bits", CLICKS, click(device=2**64), "invalid_event", "attributes.device"),
    ("legacy oplog patch", USERS, json.dumps(PATCH).encode(), "mapping", "patch"),
    (
        "schemaless precise decimal, no scale",
        HOLDINGS,
        holding(credit_limit="AJw="),
        "mapping",
        "credit_limit",
    ),
]


@pytest.mark.parametrize(("name", "topic", "value", "reason", "field"), REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_record_is_a_dead_letter_naming_its_field(
    name: str, topic: str, value: bytes, reason: str, field: str
) -> None:
    letter = run(topic, value, b'{"id": "\\"u1\\""}' if topic == USERS else None)
    assert isinstance(letter, DeadLetter), letter
    assert letter.reason == reason and letter.field.startswith(field), (letter.field, letter.message)
    for _, header in dead_letter_headers(letter, datetime.now(UTC)):
        assert len(header) <= 1_000


def test_patch_dead_letter_says_why() -> None:
    letter = run(USERS, json.dumps(PATCH).encode(), b'{"id": "\\"u1\\""}')
    assert "patch" in letter.message and "change_streams_update_full" in letter.message


def test_precise_decimal_read_at_the_scale_the_mapping_declares() -> None:
    """ "MTIz" is base64 of b"123" (unscaled 3224115): all digits-and-letters; "1234" is valid base64
    of three bytes, and read as decimal text it would be another number altogether."""
    raw = load_mapping_file().model_dump(exclude_none=True)
    table = next(t for t in raw["tables"] if t["topic"] == HOLDINGS)
    table["columns"]["credit_limit"]["scale"] = 2
    declared = MappingFile.model_validate(raw).for_topic()
    unscaled = int.from_bytes(base64.b64decode("1234"), "big", signed=True)
    event = run(HOLDINGS, holding(credit_limit="1234"), mappings=declared)
    assert isinstance(event, CanonicalEvent)
    assert event.change.row["credit_limit"] == Decimal(unscaled).scaleb(-2)
    example = run(HOLDINGS, holding(credit_limit="AJw="), mappings=declared)  # Kafka's JsonConverter test's
    assert example.change.row["credit_limit"] == Decimal("1.56")
    refused = run(HOLDINGS, holding(credit_limit="!!!!"), mappings=declared)
    assert (refused.reason, refused.field) == ("mapping", "credit_limit")
    assert "base64" in refused.message


def test_scale_only_on_money_columns() -> None:
    raw = load_mapping_file().model_dump(exclude_none=True)
    next(t for t in raw["tables"] if t["topic"] == HOLDINGS)["columns"]["status"]["scale"] = 2
    with pytest.raises(ValueError, match="`scale` is for `money` columns only"):
        MappingFile.model_validate(raw)


WORST = {
    "deep arrays": (CLICKS, b"[" * (MB - 10)),
    "250k decimals": (CLICKS, b'{"x":[' + b",".join([b"1.5"] * (MB // 4 - 10)) + b"]}"),
    "a million-digit number": (CLICKS, b'{"ts":' + b"9" * (MB - 20) + b"}"),
    "a long string of escapes": (CLICKS, click(url="\u00e9" * (MB // 7)).replace(b"\\u00e9", b"\\u00e9")),
    "valid surrogate pairs": (CLICKS, click(url="\U0001f600" * (MB // 13))),
    "values at the cap, decimals": (
        CLICKS,
        click(device="@").replace(b'"@"', b"[" + b"1.5," * 9_900 + b"1]"),
    ),
    "values at the cap, objects": (CLICKS, click(device=[{"a": 1}] * 3_300)),
    "Extended JSON decimals at the cap": (
        USERS,
        mongo(json.dumps({"_id": "u1", "address": [{"$numberDecimal": "1.5"}] * 3_300})),
    ),
    "Extended JSON dates at the cap": (
        USERS,
        mongo(json.dumps({"_id": "u1", "address": [{"$date": "2026-01-01T00:00:00Z"}] * 1_900})),
    ),
    "a 700 kB precise decimal": (HOLDINGS, holding(credit_limit=base64.b64encode(bytes(700_000)).decode())),
}


@pytest.mark.parametrize("name", WORST)
def test_every_record_is_handled_in_well_under_50_ms(name: str) -> None:
    """CPU time (this thread's), the best of three: the machine is shared, and the bound is on the
    work a record can cost, not on the scheduler."""
    topic, value = WORST[name]
    assert len(value) <= MB
    key = b'{"id": "\\"u1\\""}' if topic == USERS else None
    best = min(_cpu_ms(lambda: run(topic, value, key)) for _ in range(3))
    assert best < 50, f"{name}: {best:.1f} ms"


def _cpu_ms(work: Any) -> float:
    start = time.thread_time()
    work()
    return (time.thread_time() - start) * 1000


def test_a_dead_letter_too_large_for_kafka_is_cut_and_says_so() -> None:
    headers = [(HEADER_PREFIX + "reason", b"decode")]
    key, value, out = fitted(b"k" * 5_000, b"v" * 3_000_000, headers, 1_048_576)
    size = len(key) + len(value) + sum(len(n) + len(v) for n, v in out)
    assert size <= 1_048_576 - 1_024 and value == b"v" * len(value) and len(value) > 1_000_000
    said = {n: v for n, v in out}
    assert said[HEADER_PREFIX + "truncated"] == b"true"
    assert said[HEADER_PREFIX + "original.value_bytes"] == b"3000000"
    assert said[HEADER_PREFIX + "original.key_bytes"] == b"5000"
    assert fitted(b"k", b"v", headers, 1_048_576) == (b"k", b"v", headers)  # fits: untouched


def test_dead_letter_headers_encode_whatever_the_message_holds() -> None:
    letter = DeadLetter(SourceRecord("t", 0, 0, None, b"", 0), "internal", "$", "bad \ud800 " + "x" * 5000)
    error = dict(dead_letter_headers(letter, datetime.now(UTC)))[HEADER_PREFIX + "error"]
    assert error.startswith(b"bad \\ud800 ") and len(error) < 1_100


def test_a_profile_split_back_out_of_a_redirect_gets_its_creation_time() -> None:
    """The writer's redirect keeps no created_at; the split-off profile was created when its first
    event was ingested."""
    t1, t2, now = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), datetime.now(UTC)
    events = [_event_doc("e1", t2), _event_doc("e2", t1)]
    _, write = rebuild_updates(events, [], True, now, None)
    assert write["$set"]["created_at"] == t1 and "$setOnInsert" not in write
    _, kept = rebuild_updates(events, [], True, now, t2)
    assert kept["$set"]["created_at"] == t2
    _, empty = rebuild_updates([], [], False, now, None)
    assert empty["$set"]["created_at"] == now


def _event_doc(event_id: str, ingested_at: datetime) -> dict[str, Any]:
    return {
        "_id": event_id,
        "source": "web",
        "type": "page_view",
        "occurred_at": ingested_at,
        "identifiers": [{"type": "cookie", "value": "ck"}],
        "ingested_at": ingested_at,
    }
