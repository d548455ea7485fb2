"""Property-based fuzzing of translate() and the decoders under it (tests/fuzz_inputs.py): whatever the
bytes, the result is an event, a skip or a dead letter with a reason naming a field, never an exception;
every event is one the writer can plan and BSON can encode; every dead letter's headers can be sent.

The fast profile runs here; the long one (200,000+ examples) is `python -m bench.fuzz_bench`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import bson
from hypothesis import HealthCheck, given, settings

from c360.dead_letters import dead_letter_headers
from ingest.debezium import decode_change, decode_connect_value, decode_key
from ingest.errors import DecodeError
from ingest.events import CanonicalEvent
from ingest.mappings import TableMapping
from ingest.records import DeadLetter, Skipped, SourceRecord, translate
from operational.store import CODEC_OPTIONS
from operational.writer import event_document
from profiles.delta import ProfileDelta
from tests.fuzz_inputs import MAPPINGS, MAX_BYTES, arbitrary, mutated, table_seeds

REASONS = {"decode", "mapping", "invalid_event", "unmapped_topic"}
NOW = datetime(2026, 12, 1, tzinfo=UTC)
FAST = settings(
    max_examples=int(os.environ.get("C360_FUZZ_EXAMPLES", "400")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def check_outcome(record: SourceRecord) -> CanonicalEvent | DeadLetter | Skipped:
    """translate() must not raise, and what it returns must go on without raising either."""
    return check_result(translate(record, MAPPINGS, MAX_BYTES))


def check_result(result: object) -> CanonicalEvent | DeadLetter | Skipped:
    """A dead letter names a known reason and a field, and its headers can be sent; an event is one the
    writer can plan and BSON can encode."""
    if isinstance(result, DeadLetter):
        assert result.reason in REASONS, result
        assert result.field and result.message, result
        for _, value in dead_letter_headers(result, NOW):
            assert len(value) <= 4_000
    elif isinstance(result, CanonicalEvent):
        bson.encode(event_document(result, "p" + "0" * 20, NOW), codec_options=CODEC_OPTIONS)
        delta = ProfileDelta()
        delta.add_event(result)
        bson.encode(delta.to_update(NOW), codec_options=CODEC_OPTIONS)
    else:
        assert isinstance(result, Skipped)
    return result


@FAST
@given(mutated())
def test_translate_is_total_on_mutated_samples(record: SourceRecord) -> None:
    check_outcome(record)


@FAST
@given(arbitrary)
def test_translate_is_total_on_arbitrary_bytes(record: SourceRecord) -> None:
    check_outcome(record)


@FAST
@given(mutated())
def test_decoders_raise_only_decode_errors(record: SourceRecord) -> None:
    for call in (
        lambda: decode_change(record.key, record.value, max_bytes=MAX_BYTES, connector="mongodb"),
        lambda: decode_change(record.key, record.value, max_bytes=MAX_BYTES, flattened=True),
        lambda: decode_key(record.key, connector="mongodb"),
        lambda: decode_connect_value(record.value),
    ):
        try:
            call()
        except DecodeError as exc:
            assert exc.field and exc.message


def test_every_table_seed_maps_to_an_event() -> None:
    """The fuzz seeds are valid records, so mutations start from the deep paths of real events."""
    for topic, mapping in MAPPINGS.items():
        if isinstance(mapping, TableMapping):
            for _, key, value in table_seeds(topic, mapping):
                result = check_outcome(SourceRecord(topic, 0, 0, key, value, 1))
                assert isinstance(result, CanonicalEvent), (topic, result)
