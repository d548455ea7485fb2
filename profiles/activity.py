"""The activity part of a profile, pure: what a batch of events adds, as mergeable MongoDB operators.

Everything is stored so that applying events in any order, in any batches, or folding a merged-away
profile in gives the same document: counters per UTC day (`$inc`), latest-wins values as `{at, value}`
documents under `$max` (BSON compares documents field by field, so the later `at` wins), first/last times
under `$min`/`$max`, and capped lists kept sorted by `$push` with `$sort` and `$slice`. Windowed and
derived fields are evaluated against the clock when the profile is read (profiles/view.py),
so a 90-day window loses a 91-day-old transaction without any new event.

    daily_from: "2026-08-22"  the oldest day bucket, for trimming (operational/trim.py)
    daily:    {"2026-11-20": {n: {<type>: count},
                              tx: {vol, debit_n, debit_sum, ch: {<channel>: n}, mcc: {<category>: n}},
                              svc: {sentiment, sentiment_n, complaints}}}   sentiment in hundredths
    last:     {<event type>: time}
    traits:   {<source>: {<field>: {at, value}}}
    consent:  {<email|sms|marketing>: {at, value, source}}
    retail:   {orders: {<online|in_store>: n}, items, spend, skus: {<sku>: quantity}}
    tickets:  {<ticket id>: {opened, solved, subject, complaint}}
    web:      {views: [time, ...] (latest 100), errors: [{at, url, code, message}] (latest 10)}
    timeline: [{at, event_id, type, source, channel, summary}]  latest 50 across all sources
    search_names: ["ann smith", "smith ann"]  lower-case, for prefix search by either name first
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bson.decimal128 import Decimal128

from ingest.events import CanonicalEvent

# The top-level fields this part owns; a rebuild from events resets them (profiles/rebuild.py).
FIELDS = (
    "daily",
    "daily_from",
    "last",
    "traits",
    "consent",
    "retail",
    "tickets",
    "web",
    "timeline",
    "search_names",
)
TRAIT_FIELDS = ("first_name", "last_name", "country")
CONSENT_FLAGS = ("email", "sms", "marketing")
TIMELINE_CAP = 50
WEB_ERRORS_CAP = 10
PAGE_VIEWS_CAP = 100
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Text a profile keeps from an event (a trait, a ticket's subject, an error message, a timeline line) is
# cut to this: events about one customer must not grow their profile past MongoDB's 16 MB document limit.
MAX_TEXT = 500
MAX_QUANTITY = 10**6


def safe_key(value: Any) -> str:
    """A payload value as a MongoDB field name: kept when plain, else hashed (no dots, no `$`)."""
    text = str(value)
    return text if _SAFE_KEY.match(text) else "h" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def day_key(at: datetime) -> str:
    return at.date().isoformat()


def money(value: Decimal) -> Decimal128:
    return Decimal128(value)


@dataclass
class ActivityDelta:
    inc: dict[str, Any] = field(default_factory=dict)
    low: dict[str, Any] = field(default_factory=dict)
    high: dict[str, Any] = field(default_factory=dict)
    put: dict[str, Any] = field(default_factory=dict)
    push: dict[str, list[Any]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def add_event(self, event: CanonicalEvent) -> None:
        at, attrs = event.occurred_at, event.attributes
        day = f"daily.{day_key(at)}"
        self._inc(f"{day}.n.{event.type}", 1)
        self._min("daily_from", day_key(at))
        self._max(f"last.{event.type}", at)
        self._push("timeline", timeline_entry(event))
        for name in TRAIT_FIELDS:
            if attrs.get(name) is not None:
                self._max(f"traits.{event.source}.{name}", {"at": at, "value": bounded(attrs[name])})
        self._names(attrs.get("first_name"), attrs.get("last_name"))
        for flag in CONSENT_FLAGS:
            if isinstance(attrs.get(f"consent_{flag}"), bool):
                self._max(
                    f"consent.{flag}", {"at": at, "value": attrs[f"consent_{flag}"], "source": event.source}
                )
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event, day)

    def add_profile(self, doc: dict[str, Any]) -> None:
        """Fold in a stored profile being merged into this one: every part is associative."""
        for path, value in _leaves(doc.get("daily", {}), "daily"):
            self._inc(path, value)
        if doc.get("daily_from") is not None:
            self._min("daily_from", doc["daily_from"])
        for path, value in _leaves(doc.get("retail", {}), "retail"):
            self._inc(path, value)
        for event_type, at in doc.get("last", {}).items():
            self._max(f"last.{event_type}", at)
        for source, fields in doc.get("traits", {}).items():
            for name, entry in fields.items():
                self._max(f"traits.{source}.{name}", entry)
        for flag, entry in doc.get("consent", {}).items():
            self._max(f"consent.{flag}", entry)
        for ticket, state in doc.get("tickets", {}).items():
            self._ticket(ticket, state)
        web = doc.get("web", {})
        for path, items in (("web.views", web.get("views", [])), ("web.errors", web.get("errors", []))):
            for item in items:
                self._push(path, item)
        for entry in doc.get("timeline", []):
            self._push("timeline", entry)
        self.names.update(doc.get("search_names", []))

    def merge_into(self, update: dict[str, Any]) -> None:
        """Add these operators to a profile update (paths never collide with ProfileDelta's own)."""
        for operator, values in (
            ("$inc", self.inc),
            ("$min", self.low),
            ("$max", self.high),
            ("$set", self.put),
        ):
            if values:
                update.setdefault(operator, {}).update(values)
        pushes = {path: {"$each": items, **_PUSH_ORDER[path]} for path, items in self.push.items()}
        if pushes:
            update.setdefault("$push", {}).update(pushes)
        if self.names:
            update.setdefault("$addToSet", {})["search_names"] = {"$each": sorted(self.names)}

    # -- per event type ---------------------------------------------------------------------------

    def _transaction(self, event: CanonicalEvent, day: str) -> None:
        amount = event.amount or Decimal(0)
        self._inc(f"{day}.tx.vol", amount)
        if event.attributes.get("direction") == "debit":
            self._inc(f"{day}.tx.debit_n", 1)
            self._inc(f"{day}.tx.debit_sum", amount)
        if event.channel is not None:
            self._inc(f"{day}.tx.ch.{event.channel}", 1)
        category = event.attributes.get("merchant_category")
        if category is not None:
            self._inc(f"{day}.tx.mcc.{safe_key(category)}", 1)

    def _order(self, event: CanonicalEvent, day: str) -> None:
        fulfilment = "online" if event.attributes.get("fulfilment") == "online" else "in_store"
        self._inc(f"retail.orders.{fulfilment}", 1)
        self._inc("retail.spend", event.amount or Decimal(0))
        for item in _items(event.attributes):
            self._inc("retail.items", item["qty"])
            self._inc(f"retail.skus.{safe_key(item['sku'])}", item["qty"])

    def _ticket_open(self, event: CanonicalEvent, day: str) -> None:
        attrs = event.attributes
        tags = attrs.get("tags")
        complaint = isinstance(tags, list | str) and "complaint" in tags
        sentiment = _hundredths(attrs.get("sentiment"))
        if sentiment is not None:
            self._inc(f"{day}.svc.sentiment", sentiment)
            self._inc(f"{day}.svc.sentiment_n", 1)
        if complaint:
            self._inc(f"{day}.svc.complaints", 1)
        subject = None if attrs.get("subject") is None else bounded_text(attrs["subject"])
        state = {"opened": event.occurred_at, "subject": subject, "complaint": complaint}
        self._ticket(safe_key(attrs.get("ticket_id")), state)

    def _ticket_solved(self, event: CanonicalEvent, day: str) -> None:
        self._ticket(safe_key(event.attributes.get("ticket_id")), {"solved": event.occurred_at})

    def _web_error(self, event: CanonicalEvent, day: str) -> None:
        attrs = event.attributes
        error = {
            "at": event.occurred_at,
            "url": bounded(attrs.get("url")),
            "code": bounded(attrs.get("error_code")),
            "message": bounded(attrs.get("error_message")),
        }
        self._push("web.errors", error)

    def _page_view(self, event: CanonicalEvent, day: str) -> None:
        self._push("web.views", event.occurred_at)

    # -- operators --------------------------------------------------------------------------------

    def _names(self, first: Any, last: Any) -> None:
        first, last = (search_text(n) for n in (first, last))
        if first and last:
            self.names.update({f"{first} {last}", f"{last} {first}"})

    def _ticket(self, ticket: str, state: dict[str, Any]) -> None:
        path = f"tickets.{ticket}"
        if state.get("opened") is not None:
            self._min(f"{path}.opened", state["opened"])
        if state.get("solved") is not None:
            self._max(f"{path}.solved", state["solved"])
        if state.get("subject") is not None:
            self.put[f"{path}.subject"] = state["subject"]
        if state.get("complaint"):
            self._max(f"{path}.complaint", True)

    def _inc(self, path: str, value: int | Decimal | Decimal128) -> None:
        if isinstance(value, Decimal128):
            value = value.to_decimal()
        current = self.inc.get(path)
        total = value if current is None else _number(current) + value
        self.inc[path] = money(total) if isinstance(total, Decimal) else total

    def _max(self, path: str, value: Any) -> None:
        current = self.high.get(path)
        if current is None or _order_key(value) > _order_key(current):
            self.high[path] = value

    def _min(self, path: str, value: Any) -> None:
        current = self.low.get(path)
        if current is None or value < current:
            self.low[path] = value

    def _push(self, path: str, item: Any) -> None:
        self.push.setdefault(path, []).append(item)


def search_text(value: Any) -> str:
    """Names as the search index keeps them: lower-case, single spaces."""
    return " ".join(str(value).lower().split()) if isinstance(value, str) else ""


def timeline_entry(event: CanonicalEvent) -> dict[str, Any]:
    return {
        "at": event.occurred_at,
        "event_id": event.event_id,
        "type": event.type,
        "source": event.source,
        "channel": event.channel,
        "summary": summarize(event)[:MAX_TEXT],
    }


def summarize(event: CanonicalEvent) -> str:
    """One line an agent can read: what happened, in the source's own terms."""
    attrs = event.attributes
    amount = f"{event.amount} {event.currency or ''}".strip() if event.amount is not None else ""
    match event.type:
        case "transaction":
            return f"{attrs.get('direction', '')} {amount} via {event.channel}".strip()
        case "order":
            items = sum(i["qty"] for i in _items(attrs))
            return f"{attrs.get('fulfilment', 'in_store')} order {amount}, {items} items"
        case "web_error":
            return f"{attrs.get('error_code')} {attrs.get('error_message')} on {attrs.get('url')}"
        case "page_view" | "login":
            return str(attrs.get("url", ""))
        case "ticket_open" | "ticket_solved":
            return f"ticket {attrs.get('ticket_id')}: {attrs.get('subject', '')}".strip()
    if "campaign" in attrs:
        return str(attrs["campaign"])
    return amount


_HANDLERS = {
    "transaction": ActivityDelta._transaction,
    "order": ActivityDelta._order,
    "ticket_open": ActivityDelta._ticket_open,
    "ticket_solved": ActivityDelta._ticket_solved,
    "web_error": ActivityDelta._web_error,
    "page_view": ActivityDelta._page_view,
}
_PUSH_ORDER: dict[str, dict[str, Any]] = {
    "timeline": {"$sort": {"at": -1, "event_id": 1}, "$slice": TIMELINE_CAP},
    "web.errors": {"$sort": {"at": -1}, "$slice": WEB_ERRORS_CAP},
    "web.views": {"$sort": 1, "$slice": -PAGE_VIEWS_CAP},
}


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{path}.{key}")
    else:
        yield path, value


def _number(value: Any) -> int | Decimal:
    return value.to_decimal() if isinstance(value, Decimal128) else value


def _order_key(value: Any) -> Any:
    """How MongoDB's `$max` orders our values: times, booleans, or `{at, value}` documents by `at`."""
    return (value["at"], str(value.get("value"))) if isinstance(value, dict) else value


def _hundredths(value: Any) -> int | None:
    """A sentiment score (-1 to 1) in hundredths; anything else, huge exponents included, is None."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal) or len(str(value)) > 40:
        return None
    try:
        score = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        return None
    if not score.is_finite() or abs(score) > 1:
        return None
    return int((score * 100).to_integral_value())


def _items(attrs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Order lines with a sku and a whole quantity of a sane size."""
    items = attrs.get("items")
    for item in items if isinstance(items, list) else ():
        qty = item.get("qty") if isinstance(item, dict) else None
        sane = isinstance(qty, int) and not isinstance(qty, bool) and 0 < qty <= MAX_QUANTITY
        if sane and item.get("sku") is not None:
            yield item


def bounded_text(value: Any) -> str:
    return (value if isinstance(value, str) else str(value))[:MAX_TEXT]


def bounded(value: Any) -> Any:
    """A value a profile keeps: scalars as they are (text cut to MAX_TEXT), anything else as cut text."""
    if value is None or isinstance(value, bool | int | Decimal):
        return value
    return bounded_text(value)
