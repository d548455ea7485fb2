"""Drop day buckets that no window reads any more, so a profile stays bounded however long it lives.

Windows are evaluated at read time (operational/profile_view.py) and never look back further than 90
days; older buckets only make every update of the profile rewrite a larger document. Each profile keeps
`daily_from`, its oldest bucket's day (a `$min` the writer maintains), indexed, so a trim touches only
the profiles holding a day past the cutoff and is cheap to run often (hourly or daily from cron).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from operational.profile_view import EARLIER_DAYS, RECENT_DAYS
from operational.store import Store

# The oldest day a window reads is 89 days before today; a few more cover a reader whose clock lags.
KEEP_DAYS = RECENT_DAYS + EARLIER_DAYS + 3


def cutoff_day(now: datetime) -> str:
    """Buckets of days before this one are dropped."""
    return (now.date() - timedelta(days=KEEP_DAYS - 1)).isoformat()


def trim_buckets(store: Store, now: datetime) -> int:
    """Remove buckets older than `cutoff_day(now)` from every live profile holding one; returns how many
    profiles changed. Each is a new version (the lake records it), atomic per document, and safe while
    the writer runs: a write to the same profile conflicts inside MongoDB and is retried there."""
    cutoff = cutoff_day(now)
    kept = {"$filter": {"input": {"$objectToArray": "$daily"}, "cond": {"$gte": ["$$this.k", cutoff]}}}
    days = {"$map": {"input": {"$objectToArray": "$daily"}, "in": "$$this.k"}}
    pipeline: list[dict[str, Any]] = [
        {"$set": {"daily": {"$arrayToObject": kept}}},
        {
            "$set": {
                "daily_from": {"$cond": [{"$eq": [{"$size": days}, 0]}, "$$REMOVE", {"$min": days}]},
                "version": {"$add": ["$version", 1]},
                "updated_at": now,
            }
        },
    ]
    query = {"daily_from": {"$lt": cutoff}, "merged_into": {"$exists": False}}
    return store.profiles.update_many(query, pipeline).modified_count
