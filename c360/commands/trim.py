"""`c360 trim`: drop day buckets older than any window reads, and tickets solved before them."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from c360.bootstrap import open_store
from c360.settings import load_settings
from operational.trim import cutoff_day, trim_buckets

console = Console()


def trim() -> None:
    """Remove day buckets older than the 90-day windows (plus a 3-day margin) from every profile, and
    tickets solved before then (open tickets stay).

    Windows are evaluated when a profile is read, so trimming changes no value the API shows; it only
    stops documents from growing with every day a customer is active. Safe while ingest runs. Run it
    daily, e.g. from cron:

        15 2 * * * cd /srv/c360 && .venv/bin/c360 trim
    """
    now = datetime.now(UTC)
    with open_store(load_settings()) as store:
        changed = trim_buckets(store, now)
    console.print(f"{changed:,} profiles trimmed of days and solved tickets before {cutoff_day(now)}")
