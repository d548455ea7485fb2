"""Reconcile: recompute every profile's aggregates from the Delta events table and diff against MongoDB.

The lambda architecture's batch layer used as a check. Profiles are derivable from events, so for each
live profile the count, first and last seen, per-type counts and exact money sums, last activity per
channel and every identifier's first and last sighting must equal what the events say. Drift is counted
per field; a profile only one side knows is drift too. Run it when ingest and sync are caught up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb

# The fields of each live MongoDB profile that reconcile compares (the caller reads them).
RECONCILED = ("event_count", "first_seen", "last_seen", "stats", "channels", "identifiers")
# Activity is what the writer counts: events that are not CDC row changes (those are state, kept apart).
_ACTIVITY = "events WHERE change IS NULL AND profile_id IS NOT NULL"
_SPAN_SQL = f"""
SELECT profile_id, count(*) AS event_count, min(occurred_at) AS first_seen, max(occurred_at) AS last_seen
FROM {_ACTIVITY} GROUP BY profile_id
"""
_STATS_SQL = f"SELECT profile_id, type, count(*), sum(amount) FROM {_ACTIVITY} GROUP BY ALL"
_CHANNELS_SQL = (
    f"SELECT profile_id, channel, max(occurred_at) FROM {_ACTIVITY} AND channel IS NOT NULL GROUP BY ALL"
)
# Every event names identifiers of its profile, row changes included.
_IDENTIFIERS_SQL = """
SELECT profile_id, i.type, i.value, min(occurred_at), max(occurred_at)
FROM (SELECT profile_id, occurred_at, unnest(identifiers) AS i FROM events WHERE profile_id IS NOT NULL)
GROUP BY ALL
"""


@dataclass
class ReconcileReport:
    profiles_checked: int = 0
    drift: Counter[str] = field(default_factory=Counter)  # field -> profiles that differ
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.drift


def reconcile(
    con: duckdb.DuckDBPyConnection, profiles: Iterable[dict[str, Any]], max_examples: int = 20
) -> ReconcileReport:
    """`profiles`: every live profile in MongoDB with the RECONCILED fields (Store.live_profiles)."""
    lake = _recompute(con)
    report = ReconcileReport()
    for doc in profiles:
        report.profiles_checked += 1
        derived = lake.pop(doc["_id"], None)
        for name, problem in _differences(_from_mongo(doc), derived):
            report.drift[name] += 1
            if len(report.examples) < max_examples:
                report.examples.append(f"{doc['_id']} {name}: {problem}")
    for pid in lake:
        report.drift["missing_in_mongodb"] += 1
        if len(report.examples) < max_examples:
            report.examples.append(f"{pid}: has events in the lake but no live profile in MongoDB")
    return report


def _recompute(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    profiles: dict[str, dict[str, Any]] = {}
    for pid, count, first, last in con.sql(_SPAN_SQL).fetchall():
        profiles[pid] = {
            "event_count": count, "first_seen": first, "last_seen": last,
            "stats": {}, "channels": {}, "identifiers": set(),
        }  # fmt: skip
    for pid, kind, count, amount in con.sql(_STATS_SQL).fetchall():
        profiles[pid]["stats"][kind] = (count, amount)
    for pid, channel, at in con.sql(_CHANNELS_SQL).fetchall():
        profiles[pid]["channels"][channel] = at
    for pid, kind, value, first, last in con.sql(_IDENTIFIERS_SQL).fetchall():
        profiles[pid]["identifiers"].add((kind, value, first, last))
    return profiles


def _from_mongo(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_count": doc.get("event_count", 0),
        "first_seen": doc.get("first_seen"),
        "last_seen": doc.get("last_seen"),
        "stats": {t: (s.get("count", 0), s.get("amount")) for t, s in doc.get("stats", {}).items()},
        "channels": dict(doc.get("channels", {})),
        "identifiers": {
            (i["type"], i["value"], i["first_seen"], i["last_seen"])
            for i in doc.get("identifiers", {}).values()
        },
    }


def _differences(mongo: dict[str, Any], lake: dict[str, Any] | None) -> Iterator[tuple[str, str]]:
    if lake is None:
        yield "missing_in_lake", "a live profile with no events in the lake"
        return
    for name in RECONCILED:
        if mongo[name] != lake[name]:
            yield name, f"mongodb {_short(mongo[name])} != lake {_short(lake[name])}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
