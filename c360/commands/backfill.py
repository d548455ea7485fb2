"""`c360 backfill-keys`: give profiles written before the `identity_keys` copy existed their copy."""

from __future__ import annotations

from rich.console import Console

from c360.bootstrap import open_store
from c360.progress import progress_bar
from c360.settings import load_settings
from operational.backfill_keys import LIVE, backfill

console = Console()


def backfill_keys() -> None:
    """Set each live profile's `identity_keys` (the identifiers it holds) from the identity graph,
    where it is missing or incomplete.

    A lookup by identifier is one indexed find on the profiles that carry the identifier. Profiles
    written by a c360 from before that copy existed still resolve, through the identity graph, at twice
    a get's cost, until this has run once. Safe while ingest runs; each profile it changes gets a new
    version. Run it once after upgrading:

        c360 backfill-keys
    """
    with open_store(load_settings()) as store:
        total = store.profiles.count_documents(LIVE)
        with progress_bar(unit="profiles") as bar:
            task = bar.add_task("profiles", total=total)
            changed = backfill(store, lambda n: bar.advance(task, n))
    console.print(f"{changed:,} of {total:,} live profiles given their identity keys")
