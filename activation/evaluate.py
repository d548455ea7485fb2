"""The real-time engine: a segment rule on one stored profile, as of a clock, and when its answer could next
change without a new event (the profile's next window boundary). Pure.

A fact reads the stored document (profiles/activity.py's shapes): day buckets for windows, `last`
for days since, `stats` for lifetime figures, `consent`, `identifiers`. The lake engine
(activation/rules_sql.py) computes the same facts from the same document in SQL; both agree on every
profile of the generated world (tests/lake/test_two_engines.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128

from activation.rules import All, Condition, Fact, Node, Not, conditions
from profiles.money import decimal_of

DAY = timedelta(days=1)
DAY_MS = 86_400_000
Value = int | Decimal | bool | str | None


def fact_value(fact: Fact, doc: dict[str, Any], now: datetime) -> Value:
    """The fact's value on `doc` as of `now`; None where the profile has nothing to say (never)."""
    match fact.kind:
        case "count":
            return sum(b.get("n", {}).get(fact.name, 0) for b in _window(doc, now, fact.days))
        case "volume":
            return sum((_money(b.get("tx", {}).get("vol")) for b in _window(doc, now, fact.days)), Decimal(0))
        case "days_since":
            last = doc.get("last", {}).get(fact.name)
            return None if last is None else math.floor(_millis(now - _utc(last)) / DAY_MS)
        case "lifetime_count":
            return doc.get("stats", {}).get(fact.name, {}).get("count", 0)
        case "lifetime_amount":
            return _money(doc.get("stats", {}).get(fact.name, {}).get("amount"))
        case "consent":
            entry = doc.get("consent", {}).get(fact.name)
            return entry["value"] if entry is not None and isinstance(entry.get("value"), bool) else None
        case "has_identifier":
            return any(i.get("type") == fact.name for i in doc.get("identifiers", {}).values())
    raise ValueError(f"unknown fact {fact.kind}")


def holds(condition: Condition, value: Value) -> bool:
    """The comparison, false when the fact is null (as SQL's coalesce(..., false) in the lake)."""
    if value is None:
        return False
    wanted = condition.value
    if isinstance(value, bool) != isinstance(wanted, bool) or isinstance(value, str) != isinstance(
        wanted, str
    ):
        return False
    match condition.op:
        case "==":
            return value == wanted
        case "!=":
            return value != wanted
        case "<":
            return value < wanted  # type: ignore[operator]
        case "<=":
            return value <= wanted  # type: ignore[operator]
        case ">":
            return value > wanted  # type: ignore[operator]
        case ">=":
            return value >= wanted  # type: ignore[operator]
    raise ValueError(f"unknown operator {condition.op}")


@dataclass(frozen=True)
class Verdict:
    """A rule's answer on one profile, with every condition's value (what `segments explain` prints and
    what a segment change carries as the values that decided it)."""

    member: bool
    values: tuple[tuple[Condition, Value, bool], ...]

    def decided_by(self) -> dict[str, Any]:
        return {str(c.fact): _plain(v) for c, v, _ in self.values}


def verdict(rule: Node, doc: dict[str, Any], now: datetime) -> Verdict:
    seen: list[tuple[Condition, Value, bool]] = []

    def walk(node: Node) -> bool:
        if isinstance(node, Condition):
            value = fact_value(node.fact, doc, now)
            result = holds(node, value)
            seen.append((node, value, result))
            return result
        if isinstance(node, Not):
            return not walk(node.not_)
        results = [walk(child) for child in (node.all if isinstance(node, All) else node.any)]
        return all(results) if isinstance(node, All) else any(results)

    member = walk(rule)
    return Verdict(member, tuple(seen))


def next_boundary(rule: Node, doc: dict[str, Any], now: datetime) -> datetime | None:
    """The earliest moment after `now` at which a condition of `rule` could change its answer with no new
    event: a day bucket leaving (or entering) a window, days since the last event crossing the compared
    number. A superset of the real flips: evaluating early only finds nothing changed."""
    candidates = [t for c in conditions(rule) for t in _flips(c, doc, now) if t > now]
    return min(candidates, default=None)


def _flips(condition: Condition, doc: dict[str, Any], now: datetime) -> list[datetime]:
    fact = condition.fact
    if fact.kind in ("count", "volume") and fact.days is not None:
        present = [
            date.fromisoformat(day)
            for day, bucket in doc.get("daily", {}).items()
            if (
                bucket.get("n", {}).get(fact.name)
                if fact.kind == "count"
                else bucket.get("tx", {}).get("vol")
            )
        ]
        midnight = [datetime.combine(d, time(), UTC) for d in present]
        return [m + fact.days * DAY for m in midnight] + midnight  # leaves the window / enters it (future)
    if fact.kind == "days_since" and isinstance(condition.value, int | Decimal):
        last = doc.get("last", {}).get(fact.name)
        if last is None:
            return []
        threshold = condition.value
        days = {math.floor(threshold), math.floor(threshold) + 1, math.ceil(threshold)}
        return [_utc(last) + d * DAY for d in days]
    return []


def _window(doc: dict[str, Any], now: datetime, days: int | None) -> list[dict[str, Any]]:
    """The day buckets of the `days` calendar days ending today (UTC)."""
    assert days is not None
    today = now.astimezone(UTC).date()
    last, first = today.isoformat(), (today - (days - 1) * DAY).isoformat()
    return [bucket for day, bucket in doc.get("daily", {}).items() if first <= day <= last]


def _money(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal128):
        return decimal_of(value)
    return Decimal(value)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _millis(delta: timedelta) -> int:
    return delta // timedelta(milliseconds=1)


def _plain(value: Value) -> Any:
    """A value as JSON carries it: Decimal as its string."""
    return str(value) if isinstance(value, Decimal) else value
