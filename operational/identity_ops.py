"""Manual merge and split of profiles, each one MongoDB transaction with its identity event.

A merge re-points the merged side's identities, events and CDC rows at the survivor and leaves
redirects; a split gives back to a merged profile everything of its side: the events first placed on
it or on profiles folded into it (`placed_on`), the identities first seen there (`origin`), and the
redirects of its own merged profiles. Both profiles are then rebuilt from their own events
(profiles/rebuild.py), so aggregates equal a recompute. Lineage is replayed from identity events
(identity/lineage.py). Concurrent ingest conflicts inside MongoDB and is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.client_session import ClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from identity.graph_writes import manual_merge_writes, split_writes
from identity.lineage import parents, subtree
from identity.rules import IdentityRules
from operational.held_keys import FIELD as KEYS
from operational.held_keys import held_keys
from operational.store import Store
from operational.writer import run_writes
from profiles.cdc import cdc_profile
from profiles.rebuild import rebuild_updates

Clock = Callable[[], datetime]


class IdentityConflict(ValueError):
    """The requested merge or split does not fit the current graph (the message says why)."""


class ProfileNotFound(LookupError):
    """A merge or split names a profile that does not exist (never did, or was erased)."""


@dataclass(frozen=True)
class IdentityChange:
    kind: str
    survivor: str
    merged: str
    events_moved: int
    identities_moved: int


class IdentityEditor:
    def __init__(
        self, store: Store, rules: IdentityRules | None = None, clock: Clock = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._rules = rules or IdentityRules.from_settings()
        self._clock = clock

    def merge(self, survivor: str, merged: str, evidence: dict[str, Any]) -> IdentityChange:
        return self._run(lambda s: self._merge(survivor, merged, evidence, s))

    def split(self, survivor: str, merged: str, evidence: dict[str, Any]) -> IdentityChange:
        return self._run(lambda s: self._split(survivor, merged, evidence, s))

    def _run(self, work: Callable[[ClientSession], IdentityChange]) -> IdentityChange:
        with self._store.client.start_session() as session:
            return session.with_transaction(
                work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
            )

    def _merge(
        self, survivor: str, merged: str, evidence: dict[str, Any], session: ClientSession
    ) -> IdentityChange:
        store = self._store
        self._live(survivor, session)
        self._live(merged, session)
        if survivor == merged:
            raise IdentityConflict("a profile cannot be merged into itself")
        capped = {
            "profile_id": {"$in": [survivor, merged]},
            "type": {"$in": list(self._rules.max_per_profile)},
        }
        held = [d["_id"] for d in store.identities.find(capped, {"_id": 1}, session=session)]
        if not self._rules.within_caps(held):
            raise IdentityConflict(f"merging would break a per-profile cap: {sorted(held)}")
        now = self._clock()
        side = [merged] + [d["_id"] for d in store.profiles.find({"merged_into": merged}, session=session)]
        writes = manual_merge_writes(survivor, merged, side, evidence, now)
        _, moved_events, moved_keys, *_ = run_writes(store.db, writes, session)
        self._rebuild(survivor, now, session)
        return IdentityChange("merge", survivor, merged, moved_events, moved_keys)

    def _split(
        self, survivor: str, merged: str, evidence: dict[str, Any], session: ClientSession
    ) -> IdentityChange:
        store = self._store
        self._live(survivor, session)
        folded = store.profiles.find_one({"_id": merged}, session=session)
        if folded is None:
            raise ProfileNotFound(f"profile {merged} not found")
        if folded.get("merged_into") != survivor:
            raise IdentityConflict(f"{merged} is not merged into {survivor}")
        # Every profile folded into the survivor redirects straight to it, so the lineage to replay is
        # the merges and splits of that family alone, not the whole history.
        family = [survivor] + [
            d["_id"] for d in store.profiles.find({"merged_into": survivor}, {"_id": 1}, session=session)
        ]
        history = store.identity_events.find(
            {"merged": {"$in": family}, "kind": {"$in": ["merge", "split"]}}, session=session
        )
        tree = parents(history)
        if tree.get(merged) is None:
            raise IdentityConflict(f"no merge of {merged} into {survivor} is on record")
        side = sorted(subtree(merged, tree))
        now = self._clock()
        moved_events, moved_keys, *_ = run_writes(
            store.db, split_writes(survivor, merged, side, evidence, now), session
        )
        self._rebuild(merged, now, session)  # first: drops its redirect, so it leaves survivor's lineage
        self._rebuild(survivor, now, session)
        return IdentityChange("split", survivor, merged, moved_events, moved_keys)

    def _live(self, profile_id: str, session: ClientSession) -> dict[str, Any]:
        doc = self._store.profiles.find_one({"_id": profile_id}, session=session)
        if doc is None:
            raise ProfileNotFound(f"profile {profile_id} not found")
        if "merged_into" in doc:
            raise IdentityConflict(f"profile {profile_id} is merged into {doc['merged_into']}")
        return doc

    def _rebuild(self, profile_id: str, now: datetime, session: ClientSession) -> None:
        """Aggregates, CDC part and lineage of one profile, recomputed from what it owns now."""
        store = self._store
        events = store.events.find({"profile_id": profile_id}, session=session)
        merged_from = [
            d["_id"] for d in store.profiles.find({"merged_into": profile_id}, {"_id": 1}, session=session)
        ]
        keys = held_keys(store.identities, [profile_id], session)[profile_id]
        identified = any(self._rules.merges_key(k) for k in keys)
        stored = store.profiles.find_one({"_id": profile_id}, {"created_at": 1}, session=session) or {}
        reset, write = rebuild_updates(events, merged_from, identified, now, stored.get("created_at"))
        rows = store.cdc_rows.find({"profile_id": profile_id, "deleted": False}, session=session)
        write["$set"]["cdc"] = cdc_profile(rows)
        write["$set"][KEYS] = keys
        store.profiles.update_one({"_id": profile_id}, reset, session=session)
        store.profiles.update_one({"_id": profile_id}, write, session=session)
