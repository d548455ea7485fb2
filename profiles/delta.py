"""What a batch adds to one profile, and the single MongoDB update that applies it.

Pure: built from canonical events, or from a stored profile being merged away, and turned into one
`$inc/$min/$max/$set` update so that each touched profile is written once per batch. Every aggregate
here is associative (sums, counts, minima, maxima), which is what makes merges exact.

Stored profile shape:
    {_id, version, created_at, updated_at, event_count, first_seen, last_seen,
     stats: {<event type>: {count, amount}},          amount as Decimal128, only for typed money
     channels: {<channel>: <last activity time>},
     identifiers: {<hash>: {type, value, first_seen, last_seen}},
     merged_from: [<profile id>, ...],
     ... and the activity part: daily counters, traits, consent, tickets, timeline (profiles/activity.py)}
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from bson.decimal128 import Decimal128

from ingest.events import CanonicalEvent
from profiles.activity import ActivityDelta


@lru_cache(maxsize=1 << 18)
def identifier_field(key: str) -> str:
    """Identifier values hold dots and @, which MongoDB update paths cannot address: use a hash."""
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


@dataclass
class TypeStats:
    count: int = 0
    amount: Decimal | None = None

    def add(self, count: int, amount: Decimal | None) -> None:
        self.count += count
        if amount is not None:
            self.amount = amount if self.amount is None else self.amount + amount


@dataclass
class Seen:
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime

    def widen(self, first: datetime, last: datetime) -> None:
        self.first_seen = min(self.first_seen, first)
        self.last_seen = max(self.last_seen, last)


@dataclass
class ProfileDelta:
    event_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    stats: dict[str, TypeStats] = field(default_factory=dict)
    channels: dict[str, datetime] = field(default_factory=dict)
    identifiers: dict[str, Seen] = field(default_factory=dict)
    merged_from: set[str] = field(default_factory=set)
    activity: ActivityDelta = field(default_factory=ActivityDelta)

    def add_event(self, event: CanonicalEvent) -> None:
        at = event.occurred_at
        if event.change is not None:  # CDC rows are state (profiles/cdc.py): only identities
            for ident in event.identifiers:
                self._identifier(ident.type.value, ident.value, at, at)
            return
        self._span(1, at, at)
        self.stats.setdefault(event.type, TypeStats()).add(1, event.amount)
        if event.channel is not None:
            self._channel(event.channel, at)
        for ident in event.identifiers:
            self._identifier(ident.type.value, ident.value, at, at)
        self.activity.add_event(event)

    def add_profile(self, doc: dict[str, Any]) -> None:
        """Fold in a stored profile that is being merged into this one."""
        self._span(doc.get("event_count", 0), doc.get("first_seen"), doc.get("last_seen"))
        for event_type, stats in doc.get("stats", {}).items():
            amount = stats.get("amount")
            self.stats.setdefault(event_type, TypeStats()).add(stats.get("count", 0), _decimal(amount))
        for channel, at in doc.get("channels", {}).items():
            self._channel(channel, at)
        for seen in doc.get("identifiers", {}).values():
            self._identifier(seen["type"], seen["value"], seen["first_seen"], seen["last_seen"])
        self.activity.add_profile(doc)
        self.merged_from.add(doc["_id"])
        self.merged_from.update(doc.get("merged_from", []))

    def to_update(self, now: datetime) -> dict[str, Any]:
        inc: dict[str, Any] = {"version": 1, "event_count": self.event_count}
        low: dict[str, Any] = {}
        high: dict[str, Any] = {}
        put: dict[str, Any] = {"updated_at": now}
        if self.first_seen is not None:
            low["first_seen"] = self.first_seen
            high["last_seen"] = self.last_seen
        for event_type, stats in self.stats.items():
            inc[f"stats.{event_type}.count"] = stats.count
            if stats.amount is not None:
                inc[f"stats.{event_type}.amount"] = Decimal128(stats.amount)
        for channel, at in self.channels.items():
            high[f"channels.{channel}"] = at
        for name, seen in self.identifiers.items():
            put[f"identifiers.{name}.type"] = seen.type
            put[f"identifiers.{name}.value"] = seen.value
            low[f"identifiers.{name}.first_seen"] = seen.first_seen
            high[f"identifiers.{name}.last_seen"] = seen.last_seen
        update: dict[str, Any] = {"$inc": inc, "$set": put, "$setOnInsert": {"created_at": now}}
        if low:
            update["$min"] = low
            update["$max"] = high
        self.activity.merge_into(update)
        if self.merged_from:
            update.setdefault("$addToSet", {})["merged_from"] = {"$each": sorted(self.merged_from)}
        return update

    def _span(self, count: int, first: datetime | None, last: datetime | None) -> None:
        self.event_count += count
        if first is None or last is None:
            return
        self.first_seen = first if self.first_seen is None else min(self.first_seen, first)
        self.last_seen = last if self.last_seen is None else max(self.last_seen, last)

    def _channel(self, channel: str, at: datetime) -> None:
        current = self.channels.get(channel)
        self.channels[channel] = at if current is None else max(current, at)

    def _identifier(self, type_: str, value: str, first: datetime, last: datetime) -> None:
        name = identifier_field(f"{type_}:{value}")
        seen = self.identifiers.get(name)
        if seen is None:
            self.identifiers[name] = Seen(type_, value, first, last)
        else:
            seen.widen(first, last)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value.to_decimal() if isinstance(value, Decimal128) else Decimal(value)
