"""Drop day buckets that no window reads any more, and tickets solved before them, so a profile stays
bounded however long it lives.

Windows are evaluated at read time (profiles/view.py) and never look back further than 90
days; older buckets only make every update of the profile rewrite a larger document. A solved ticket is
read by no field (the profile shows open tickets; contacts and complaints are counted in the buckets).
Each profile keeps `daily_from`, its oldest bucket's day (a `$min` the writer maintains), indexed, so a
trim touches only the profiles holding a day past the cutoff and is cheap to run often (hourly or daily
from cron). A ticket's solving is an event, with a bucket of its day, so the profile holding a ticket
solved before the cutoff is among them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from operational.store import Store
from profiles.view import EARLIER_DAYS, RECENT_DAYS

# The oldest day a window reads is 89 days before today; a few more cover a reader whose clock lags.
KEEP_DAYS = RECENT_DAYS + EARLIER_DAYS + 3


def cutoff_day(now: datetime) -> str:
    """Buckets of days before this one are dropped."""
    return (now.date() - timedelta(days=KEEP_DAYS - 1)).isoformat()


def trim_buckets(store: Store, now: datetime) -> int:
    """Remove buckets older than `cutoff_day(now)`, and tickets solved before that day, from every live
    profile holding such a bucket; returns how many profiles changed. Each is a new version (the lake
    records it), atomic per document, and safe while the writer runs: a write to the same profile
    conflicts inside MongoDB and is retried there."""
    cutoff = cutoff_day(now)
    kept = {"$filter": {"input": {"$objectToArray": "$daily"}, "cond": {"$gte": ["$$this.k", cutoff]}}}
    days = {"$map": {"input": {"$objectToArray": "$daily"}, "in": "$$this.k"}}
    solved_before = datetime.combine(date.fromisoformat(cutoff), time(), UTC)
    tickets = {
        "$filter": {
            "input": {"$objectToArray": {"$ifNull": ["$tickets", {}]}},
            "cond": {
                "$or": [
                    {"$eq": [{"$type": "$$this.v.solved"}, "missing"]},
                    {"$gte": ["$$this.v.solved", solved_before]},
                ]
            },
        }
    }
    pipeline: list[dict[str, Any]] = [
        {"$set": {"daily": {"$arrayToObject": kept}, "tickets": tickets}},
        {
            "$set": {
                "daily_from": {"$cond": [{"$eq": [{"$size": days}, 0]}, "$$REMOVE", {"$min": days}]},
                "tickets": {
                    "$cond": [{"$eq": [{"$size": "$tickets"}, 0]}, "$$REMOVE", {"$arrayToObject": "$tickets"}]
                },
                "version": {"$add": ["$version", 1]},
                "updated_at": now,
            }
        },
    ]
    query = {"daily_from": {"$lt": cutoff}, "merged_into": {"$exists": False}}
    return store.profiles.update_many(query, pipeline).modified_count
