"""Activation's pure planners on hand-built documents: the membership diff and its conditional update,
the records a change becomes, and what a destination receives (segments, marketing consent), signatures
and backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from activation.destinations import Destination, backoff, select, sign
from activation.membership import RealtimeSegment, evaluate
from activation.messages import identity_messages, profile_messages
from activation.rules import Rule
from c360.bootstrap import profile_renderer
from c360.settings import load_settings

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
RULE: TypeAdapter[Rule] = TypeAdapter(Rule)
SEGMENTS = [
    RealtimeSegment("buyers", RULE.validate_python("lifetime_count(order) >= 1")),
    RealtimeSegment("recent", RULE.validate_python("count(order, 7d) >= 1")),
]


def _profile(version: int, orders: int, consent: bool | None, **extra: object) -> dict:
    doc: dict = {
        "_id": "p1",
        "version": version,
        "created_at": NOW,
        "updated_at": NOW,
        "stats": {"order": {"count": orders, "amount": Decimal("10.00")}} if orders else {},
        "daily": {"2026-11-18": {"n": {"order": orders}}} if orders else {},
        "consent": {} if consent is None else {"marketing": {"at": NOW, "value": consent, "source": "crm"}},
    }
    return doc | extra


def test_entering_exiting_and_a_consent_change_are_planned_as_one_conditional_update() -> None:
    first = evaluate(_profile(3, 1, True), SEGMENTS, NOW)
    assert first.update is not None
    query, update = first.update
    assert query == {"_id": "p1", "version": 3} and update["$inc"] == {"version": 1}
    assert [(c["segment"], c["change"]) for c in first.changes] == [
        ("buyers", "entered"),
        ("recent", "entered"),
    ]
    # 18 Nov leaves the 7 days ending today at the start of 25 Nov.
    assert first.state["next_boundary"] == datetime(2026, 11, 25, tzinfo=UTC)
    stored = _profile(4, 1, True, activation=update["$set"]["activation"])
    assert evaluate(stored, SEGMENTS, NOW).update is None  # nothing changed: nothing written

    withdrawn = evaluate(
        {**stored, "consent": {"marketing": {"at": NOW, "value": False, "source": "crm"}}}, SEGMENTS, NOW
    )
    assert [(c["segment"], c["change"], c["was_consent"], c["consent"]) for c in withdrawn.changes] == [
        ("buyers", "consent", True, False),
        ("recent", "consent", True, False),
    ]
    later = evaluate(stored, SEGMENTS, NOW + timedelta(days=5))
    assert [(c["segment"], c["change"]) for c in later.changes] == [("recent", "exited")]
    entered_at = stored["activation"]["segments"]["buyers"]["entered_at"]
    assert later.state["segments"]["buyers"]["entered_at"] == entered_at  # still in since then


def test_a_profile_change_becomes_its_records_with_idempotency_keys() -> None:
    rules = profile_renderer(load_settings())
    plan = evaluate(_profile(3, 1, True), SEGMENTS, NOW)
    assert plan.update is not None
    doc = _profile(4, 1, True, activation=plan.update[1]["$set"]["activation"])
    change = {"operationType": "update", "documentKey": {"_id": "p1"}, "fullDocument": doc, "wallTime": NOW}
    records = profile_messages(change, rules)
    assert [(r.stream, r.idempotency_key) for r in records] == [
        ("profiles", "p1:4"),
        ("segment_changes", "p1:4:buyers"),
        ("segment_changes", "p1:4:recent"),
    ]
    assert records[0].value_bytes() == profile_messages(change, rules)[0].value_bytes()  # same bytes again
    assert json.loads(records[0].value_bytes() or b"")["profile"]["as_of"].startswith("2026-11-20T12:00:00")
    assert [r.stream for r in profile_messages({**change, "fullDocument": _profile(5, 1, True)}, rules)] == [
        "profiles"
    ]

    erased = profile_messages({"operationType": "delete", "documentKey": {"_id": "p1"}}, rules)
    assert [(r.stream, r.value) for r in erased] == [
        ("profiles", {"type": "erased", "profile_id": "p1"}),
        ("profiles", None),
        ("segment_changes", {"change": "erased", "profile_id": "p1"}),
    ]
    redirect = {"_id": "p1", "merged_into": "p0", "merged_at": NOW}
    merged = profile_messages({**change, "fullDocument": redirect}, rules)
    assert merged[0].value == {"type": "merged", "profile_id": "p1", "merged_into": "p0", "merged_at": NOW}
    move = {
        "_id": "move:ab:p2:p1:e1",
        "kind": "move",
        "survivor": "p1",
        "from": "p2",
        "key": "email:a@x.com",
        "at": NOW,
    }
    (out,) = identity_messages({"operationType": "insert", "fullDocument": move})
    assert out.value == {"change_id": move["_id"], "kind": "move", "survivor": "p1", "from": "p2", "at": NOW}
    assert out.key == "p1" and out.idempotency_key == move["_id"]  # never the identifier that moved


def _destination(**fields: object) -> Destination:
    base = {
        "name": "d",
        "url": "https://x.example/h",
        "streams": ["segment_changes", "profiles"],
        "secret_env": "K",
    }
    return Destination.model_validate(base | fields)


def _change(
    member: bool, consent: bool, was_member: bool, was_consent: bool, segment: str = "buyers"
) -> dict:
    return {
        "segment": segment,
        "change": "?",
        "profile_id": "p1",
        "member": member,
        "consent": consent,
        "was_member": was_member,
        "was_consent": was_consent,
    }


@pytest.mark.parametrize(
    ("change", "marketing", "sent"),
    [
        (_change(True, False, False, False), False, "entered"),
        (_change(True, False, False, False), True, None),  # never without consent
        (_change(True, True, False, False), True, "entered"),
        (_change(True, False, True, True), True, "exited"),  # withdrawal while in: an exit
        (_change(True, False, True, True), False, None),  # not a membership change for others
        (_change(False, True, True, True), True, "exited"),
        (_change(True, True, True, False), True, "entered"),  # consent given while in: an entry
    ],
)
def test_what_a_destination_receives_of_a_segment_change(
    change: dict, marketing: bool, sent: str | None
) -> None:
    got = select(_destination(marketing=marketing), "segment_changes", change)
    assert (None if got is None else got["change"]) == sent
    if got is not None and got["change"] == "exited" and change["member"]:
        assert got["reason"] == "consent_withdrawn"


def test_streams_segments_and_profiles_without_consent_are_filtered() -> None:
    only = _destination(segments=["other"], streams=["segment_changes"])
    assert select(only, "segment_changes", _change(True, True, False, False)) is None
    assert select(only, "profiles", {"type": "profile"}) is None
    marketing = _destination(marketing=True)
    without = {"type": "profile", "profile_id": "p1", "profile": {"consent": {}}}
    with_consent = {**without, "profile": {"consent": {"marketing": {"value": True}}}}
    assert select(marketing, "profiles", without) is None
    assert select(marketing, "profiles", with_consent) == with_consent
    assert select(marketing, "profiles", None) is None  # a tombstone: its notice went first
    assert select(marketing, "segment_changes", {"change": "erased", "profile_id": "p1"}) is not None


def test_signature_backoff_and_configuration() -> None:
    body, key = b'{"records":[]}', b"k" * 32
    headers = sign(key, 1_700_000_000, body)
    want = hmac.new(key, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers == {"X-C360-Timestamp": "1700000000", "X-C360-Signature": f"v1={want}"}
    d = _destination(backoff_seconds=1.0, max_backoff_seconds=5.0)
    waits = [backoff(d, attempt, random.Random(1)) for attempt in (1, 2, 3, 4, 5)]
    assert (
        0.5 <= waits[0] <= 1
        and 1 <= waits[1] <= 2
        and 2 <= waits[2] <= 4
        and all(2.5 <= w <= 5 for w in waits[3:])
    )
    with pytest.raises(ValidationError, match="exactly one of"):
        Destination(name="d", url="https://x.example", streams=["profiles"])
    with pytest.raises(ValidationError):
        _destination(url="ftp://x.example")
