"""Least-privilege MongoDB roles, one per c360 component, as data: which actions on which collections.

Each component gets what its code does, found by running it under the role (tests/integration/
test_mongo_auth.py) and nothing more:

ingest  reads and writes the collections a micro-batch touches (events, profiles, the identity graph,
        CDC rows, matching, its heartbeat); reads erased_keys (the suppression of erased people).
api     reads every collection; writes none. The write endpoints (webhooks, identity edits, erasure)
        need the `jobs` role as well (docs/SECURITY.md).
sync    reads the three watched collections with change streams, and `collMod` on profiles: the sync
        switches on changeStreamPreAndPostImages there at start; reads erasures after lost history.
jobs    trim, segments apply, backfill-keys, erase, reconcile: reads and writes every collection.

No role may create collections or indexes (`createCollection`, `createIndex`): `c360 setup` does, as an
administrator, before the components start; they only check that the collections are there.
"""

from __future__ import annotations

from typing import Any, Literal

Component = Literal["ingest", "api", "sync", "jobs"]
COMPONENTS: tuple[Component, ...] = ("ingest", "api", "sync", "jobs")
ALL = ""  # a resource's collection "": every collection of the database

READ = ("find", "listIndexes")
WRITE = (*READ, "insert", "update", "remove")
WATCH = (*READ, "changeStream")

GRANTS: dict[Component, dict[str, tuple[str, ...]]] = {
    "ingest": {
        "profiles": WRITE,
        "identities": WRITE,
        "events": WRITE,
        "identity_events": WRITE,
        "cdc_rows": WRITE,
        "ingest_workers": WRITE,
        "match_records": WRITE,
        "review_items": WRITE,
        "erased_keys": READ,
    },
    "api": {ALL: READ},
    "sync": {
        "profiles": (*WATCH, "collMod"),
        "identity_events": WATCH,
        "events": WATCH,
        "erasures": READ,
    },
    "jobs": {ALL: WRITE},
}


def role_name(component: Component) -> str:
    return f"c360_{component}"


def user_name(component: Component) -> str:
    return f"c360-{component}"


def privileges(component: Component, database: str) -> list[dict[str, Any]]:
    """The role's privileges in `database`; every role may list the collections (the start-up check)."""
    listed = [{"resource": {"db": database, "collection": ALL}, "actions": ["listCollections"]}]
    return listed + [
        {"resource": {"db": database, "collection": collection}, "actions": list(actions)}
        for collection, actions in GRANTS[component].items()
    ]
