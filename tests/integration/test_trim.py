"""Trimming day buckets on a genuine MongoDB: old days leave, windows read the same, merged and young
profiles stay untouched. Expected days and counts come from the test's own event list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ingest.events import CanonicalEvent, build_event
from operational.identity_ops import IdentityEditor
from operational.reads import ProfileReader
from operational.store import Store
from operational.trim import trim_buckets
from operational.writer import ProfileWriter
from profiles.offers import load_offer_rules
from profiles.view import profile_view

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def tx(n: int, email: str, days_ago: int) -> CanonicalEvent:
    return build_event(
        event_id=f"t{n}",
        source="core_banking",
        type="transaction",
        occurred_at=NOW - timedelta(days=days_ago, minutes=n),
        channel="mobile",
        identifiers=[{"type": "email", "value": email}],
        amount=Decimal("12.34"),
        attributes={"direction": "debit"},
    )


def test_trim_drops_days_no_window_reads_and_changes_no_window(store: Store) -> None:
    old = [tx(n, "old@x.com", d) for n, d in enumerate((400, 200, 120, 94, 92, 89, 60, 30, 1, 0))]
    young = [tx(100 + n, "young@x.com", d) for n, d in enumerate((80, 10))]
    folded = [tx(200 + n, "folded@x.com", d) for n, d in enumerate((300, 5))]
    writer, reader, rules = ProfileWriter(store), ProfileReader(store), load_offer_rules()
    writer.apply(old + young + folded)
    old_id, young_id, folded_id = (
        reader.lookup("email", f"{p}@x.com")["_id"] for p in ("old", "young", "folded")
    )
    IdentityEditor(store).merge(young_id, folded_id, {"reason": "test", "actor": "test"})
    before = {pid: store.profiles.find_one({"_id": pid}) for pid in (old_id, young_id, folded_id)}

    changed = trim_buckets(store, NOW)

    after = {pid: store.profiles.find_one({"_id": pid}) for pid in before}
    # The policy: the 90-day windows plus 3 days of margin, i.e. days at most 92 days before today.
    expected_days = sorted(
        {e.occurred_at.date().isoformat() for e in old if (NOW - e.occurred_at).days <= 92}
    )
    assert sorted(after[old_id]["daily"]) == expected_days
    assert len(expected_days) == 6  # 92, 89, 60, 30, 1 and 0 days ago
    assert after[old_id]["daily_from"] == expected_days[0]
    assert after[old_id]["version"] == before[old_id]["version"] + 1
    view = profile_view(after[old_id], NOW, rules)["transactions"]
    assert view["tx_count_90d"] == sum(1 for e in old if NOW - e.occurred_at < timedelta(days=90))
    assert view == profile_view(before[old_id], NOW, rules)["transactions"]
    # the survivor held a 300-day-old day through the merge: trimmed; the folded-away document is not
    assert sorted(after[young_id]["daily"]) == sorted(
        e.occurred_at.date().isoformat() for e in young + folded[1:]
    )
    assert after[folded_id] == before[folded_id]
    assert changed == 2
    assert trim_buckets(store, NOW) == 0  # nothing left to trim: the index finds no profile


def test_a_late_old_event_is_trimmed_again(store: Store) -> None:
    writer = ProfileWriter(store)
    writer.apply([tx(1, "late@x.com", 3)])
    assert trim_buckets(store, NOW) == 0
    writer.apply([tx(2, "late@x.com", 365)])  # a year-old record replayed from a source
    doc = store.profiles.find_one({"identifiers": {"$exists": True}})
    assert doc["daily_from"] == (NOW - timedelta(days=365, minutes=2)).date().isoformat()
    assert trim_buckets(store, NOW) == 1
    doc = store.profiles.find_one({"_id": doc["_id"]})
    assert list(doc["daily"]) == [(NOW - timedelta(days=3, minutes=1)).date().isoformat()]
    assert doc["event_count"] == 2  # lifetime aggregates are not windows: trimming leaves them


def ticket(n: int, kind: str, ticket_id: str, days_ago: int) -> CanonicalEvent:
    return build_event(
        event_id=f"k{n}",
        source="support",
        type=kind,
        occurred_at=NOW - timedelta(days=days_ago),
        identifiers=[{"type": "email", "value": "help@x.com"}],
        attributes={"ticket_id": ticket_id, "subject": f"about {ticket_id}"},
    )


def test_tickets_solved_before_the_cutoff_leave_open_and_recent_ones_stay(store: Store) -> None:
    writer, rules = ProfileWriter(store), load_offer_rules()
    writer.apply(
        [
            ticket(1, "ticket_open", "old", 200),
            ticket(2, "ticket_solved", "old", 150),  # solved before the 92-day cutoff: dropped
            ticket(3, "ticket_open", "long", 300),
            ticket(4, "ticket_solved", "long", 10),  # opened long ago, solved recently: kept
            ticket(5, "ticket_open", "stuck", 400),  # never solved: open, shown, kept
        ]
    )
    pid = ProfileReader(store).lookup("email", "help@x.com")["_id"]
    before = store.profiles.find_one({"_id": pid})
    assert sorted(before["tickets"]) == ["long", "old", "stuck"]

    assert trim_buckets(store, NOW) == 1

    after = store.profiles.find_one({"_id": pid})
    assert sorted(after["tickets"]) == ["long", "stuck"]
    assert after["tickets"]["long"] == before["tickets"]["long"]
    service = profile_view(after, NOW, rules)["service"]
    assert [t["ticket_id"] for t in service["open_tickets"]] == ["stuck"]
    assert service == profile_view(before, NOW, rules)["service"]


def test_a_profile_without_tickets_gets_no_tickets_field(store: Store) -> None:
    ProfileWriter(store).apply([tx(1, "quiet@x.com", 200), tx(2, "quiet@x.com", 1)])
    assert trim_buckets(store, NOW) == 1
    assert "tickets" not in store.profiles.find_one({"identifiers": {"$exists": True}})
