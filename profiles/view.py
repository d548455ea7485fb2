"""The full profile as of a given time, pure: windows and derived fields evaluated against the clock.

Stored counters are per UTC day (profiles/activity.py); a window of N days is the N calendar days
ending today (UTC), so reading with a later clock drops old days without any event arriving. Traits
take the first source in `TRAIT_PRECEDENCE` that has the field; consent flags the latest statement.
Traits of state rows (a credit bureau's file) carry their source and the row's as-of as `updated_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from profiles.offers import OfferRules

TRAIT_PRECEDENCE = ("core_banking", "crm", "retail", "web", "support")
TOP_ITEMS = 5
SESSION_GAP = timedelta(minutes=30)
ENGAGEMENT_WEIGHTS = {
    "transaction": 2,
    "login": 5,
    "page_view": 1,
    "email_opened": 2,
    "email_clicked": 4,
    "order": 5,
}
CENT = Decimal("0.01")
RECENT_DAYS, EARLIER_DAYS = 30, 60  # the 90-day windows are both together


def profile_view(doc: dict[str, Any], now: datetime, rules: OfferRules) -> dict[str, Any]:
    recent, earlier = windows(doc.get("daily", {}), now)
    quarter = recent.plus(earlier)
    holdings = _holdings(doc)
    transactions = _transactions(quarter, holdings, doc)
    service = _service(doc, recent, quarter, now)
    retail = _retail(doc, now)
    utilization = credit_utilization(holdings)
    churn = _churn(recent, earlier)
    engagement = engagement_score(recent)
    facts = {
        "churn_level": churn["level"],
        "credit_utilization": utilization,
        "product_types": transactions["active_product_types"],
        "tx_count_90d": transactions["tx_count_90d"],
        "total_activity_volume": transactions["total_activity_volume"],
        "mobile_count_90d": transactions["mobile_count_90d"],
        "engagement_score": engagement,
        "complaints_90d": service["complaints_90d"],
    }
    offer = rules.choose(facts)
    return {
        "as_of": now,
        "traits": _traits(doc),
        "consent": {
            flag: {"value": e["value"], "source": e["source"], "updated_at": e["at"]}
            for flag, e in doc.get("consent", {}).items()
        },
        "holdings": holdings,
        "transactions": transactions,
        "service": service,
        "retail": retail,
        "credit_utilization": utilization,
        "engagement_score": engagement,
        "churn_risk": churn,
        "next_best_offer": None if offer is None else {"offer": offer.offer, "reason": offer.reason},
        "timeline": doc.get("timeline", []),
        "segments": doc.get("segments", []),
    }


@dataclass
class Window:
    """Sums of a run of day buckets: every windowed field is read off one of these."""

    n: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    merchant_categories: set[str] = field(default_factory=set)
    volume: Decimal = Decimal(0)
    debit_n: int = 0
    debit_sum: Decimal = Decimal(0)
    sentiment: int = 0
    sentiment_n: int = 0
    complaints: int = 0

    def add(self, bucket: dict[str, Any]) -> None:
        for event_type, k in bucket.get("n", {}).items():
            self.n[event_type] = self.n.get(event_type, 0) + k
        tx = bucket.get("tx")
        if tx:
            for channel, k in tx.get("ch", {}).items():
                self.channels[channel] = self.channels.get(channel, 0) + k
            self.merchant_categories.update(tx.get("mcc", ()))
            self.volume += tx.get("vol", 0)
            self.debit_n += tx.get("debit_n", 0)
            self.debit_sum += tx.get("debit_sum", 0)
        svc = bucket.get("svc")
        if svc:
            self.sentiment += svc.get("sentiment", 0)
            self.sentiment_n += svc.get("sentiment_n", 0)
            self.complaints += svc.get("complaints", 0)

    def plus(self, other: Window) -> Window:
        return Window(
            n=_summed(self.n, other.n),
            channels=_summed(self.channels, other.channels),
            merchant_categories=self.merchant_categories | other.merchant_categories,
            volume=self.volume + other.volume,
            debit_n=self.debit_n + other.debit_n,
            debit_sum=self.debit_sum + other.debit_sum,
            sentiment=self.sentiment + other.sentiment,
            sentiment_n=self.sentiment_n + other.sentiment_n,
            complaints=self.complaints + other.complaints,
        )


def _summed(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    total = dict(a)
    for key, k in b.items():
        total[key] = total.get(key, 0) + k
    return total


def windows(daily: dict[str, Any], now: datetime) -> tuple[Window, Window]:
    """One pass over the day buckets: the 30 calendar days ending today (UTC), and the 60 days before.

    Every window the profile has (30, 90, and 60 days ending 30 days ago) is one of these or both."""
    today = now.date()
    last = today.isoformat()
    first_recent = (today - timedelta(days=RECENT_DAYS - 1)).isoformat()
    first = (today - timedelta(days=RECENT_DAYS + EARLIER_DAYS - 1)).isoformat()
    recent, earlier = Window(), Window()
    for day, bucket in daily.items():
        if first <= day <= last:
            (recent if day >= first_recent else earlier).add(bucket)
    return recent, earlier


def credit_utilization(holdings: list[dict[str, Any]]) -> Decimal | None:
    """Outstanding over limit across active products with a credit limit; None without any."""
    credit = [h for h in holdings if h.get("status") == "active" and h.get("credit_limit")]
    limit = sum((h["credit_limit"] for h in credit), Decimal(0))
    if not limit:
        return None
    used = sum((h.get("outstanding_balance") or Decimal(0) for h in credit), Decimal(0))
    return (used / limit).quantize(Decimal("0.0001"))


def engagement_score(recent: Window) -> int:
    """0-100: weighted counts of the last 30 days' activity (ENGAGEMENT_WEIGHTS), capped."""
    return min(100, sum(w * recent.n.get(t, 0) for t, w in ENGAGEMENT_WEIGHTS.items()))


def _traits(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_source = {
        s: {k: {"value": e["value"], "updated_at": e["at"]} for k, e in f.items()}
        for s, f in doc.get("traits", {}).items()
    }
    person = doc.get("cdc", {}).get("person", {})
    retail = by_source.setdefault("retail", {})
    for name, value in person.items():  # CDC rows carry state, not a time of their own
        retail.setdefault(name, {"value": value, "updated_at": None})
    for state in doc.get("cdc", {}).get("traits", {}).values():  # each table's latest row, as of its date
        stated = by_source.setdefault(state["source"], {})
        as_of = _as_of(state["as_of"])
        for name, value in state["values"].items():
            stated.setdefault(name, {"value": value, "updated_at": as_of})
    traits: dict[str, dict[str, Any]] = {}
    ranked = [s for s in TRAIT_PRECEDENCE if s in by_source] + sorted(set(by_source) - set(TRAIT_PRECEDENCE))
    for source in ranked:
        for name, e in by_source[source].items():
            traits.setdefault(name, {"value": e["value"], "source": source, "updated_at": e["updated_at"]})
    return traits


def _as_of(value: datetime | str) -> datetime:
    """A state row's as-of: a datetime, or an ISO date (midnight UTC)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _holdings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    fields = ("product_id", "product_type", "status", "opened_on", "credit_limit", "outstanding_balance")
    return [{f: h.get(f) for f in fields} for h in doc.get("cdc", {}).get("holdings", [])]


def _transactions(quarter: Window, holdings: list[dict[str, Any]], doc: dict[str, Any]) -> dict[str, Any]:
    debit_n, channels = quarter.debit_n, quarter.channels
    return {
        "tx_count_90d": quarter.n.get("transaction", 0),
        "total_activity_volume": quarter.volume,
        "avg_debit_amount": (quarter.debit_sum / debit_n).quantize(CENT) if debit_n else None,
        "active_product_types": sorted(
            {h["product_type"] for h in holdings if h["status"] == "active" and h["product_type"]}
        ),
        "channels_used": sorted(channels),
        "mobile_count_90d": channels.get("mobile", 0),
        "branch_count_90d": channels.get("branch", 0),
        "last_activity_time": doc.get("last", {}).get("transaction"),
        "spending_diversity": len(quarter.merchant_categories),
    }


def _service(doc: dict[str, Any], recent: Window, quarter: Window, now: datetime) -> dict[str, Any]:
    rated, total = recent.sentiment_n, recent.sentiment
    open_tickets = sorted(
        (
            {
                "ticket_id": tid,
                "subject": t.get("subject"),
                "opened": t["opened"],
                "complaint": t.get("complaint", False),
            }
            for tid, t in doc.get("tickets", {}).items()
            if t.get("opened") is not None
            and t["opened"] <= now
            and not (t.get("solved") and t["solved"] <= now)
        ),
        key=lambda t: t["opened"],
        reverse=True,
    )
    week = now - timedelta(days=7)
    return {
        "contacts_30d": recent.n.get("ticket_open", 0),
        "contacts_90d": quarter.n.get("ticket_open", 0),
        "avg_recent_sentiment": (Decimal(total) / rated / 100).quantize(CENT) if rated else None,
        "open_issues_7d": sum(1 for t in open_tickets if t["opened"] >= week),
        "complaints_90d": quarter.complaints,
        "last_contact_time": doc.get("last", {}).get("ticket_open"),
        "has_open_support_ticket": bool(open_tickets),
        "open_tickets": open_tickets,
    }


def _retail(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    retail, last, web = doc.get("retail", {}), doc.get("last", {}), doc.get("web", {})
    cdc_orders = doc.get("cdc", {}).get("orders", {})
    online = retail.get("orders", {}).get("online", 0) + cdc_orders.get("online_orders", {}).get("count", 0)
    in_store = retail.get("orders", {}).get("in_store", 0) + cdc_orders.get("store_orders", {}).get(
        "count", 0
    )
    items = retail.get("items", 0) + sum(o.get("items", 0) for o in cdc_orders.values())
    spend = retail.get("spend", Decimal(0)) + sum(
        (o.get("amount", Decimal(0)) for o in cdc_orders.values()), Decimal(0)
    )
    purchases = [t for t in [last.get("order"), *(o.get("last_at") for o in cdc_orders.values())] if t]
    skus = retail.get("skus", {})
    top = sorted(skus.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ITEMS]
    orders = online + in_store
    return {
        "online_orders": online,
        "in_store_orders": in_store,
        "items_purchased": items,
        "items_per_order": (Decimal(items) / orders).quantize(CENT) if orders else None,
        "lifetime_spend": spend,
        "top_items": [{"sku": sku, "count": n} for sku, n in top],
        "last_purchase": max(purchases, default=None),
        "last_login": last.get("login"),
        "last_website_visit": last.get("page_view"),
        "last_email_sent": last.get("email_sent"),
        "last_email_opened": last.get("email_opened"),
        "last_email_clicked": last.get("email_clicked"),
        "session_page_views": session_page_views(web.get("views", []), now),
        "web_errors": web.get("errors", []),
    }


def session_page_views(views: list[datetime], now: datetime) -> int:
    """Page views of the current session: a run of views with gaps under 30 min, the last within 30 min."""
    past = sorted(v for v in views if v <= now)
    if not past or now - past[-1] >= SESSION_GAP:
        return 0
    n = 1
    while n < len(past) and past[-n] - past[-n - 1] < SESSION_GAP:
        n += 1
    return n


def _churn(recent: Window, earlier: Window) -> dict[str, Any]:
    """Declining activity, rising complaints, no recent mobile use; level by how many signals fire."""
    activity, before = sum(recent.n.values()), sum(earlier.n.values())
    signals = {
        # Under half of the previous two months' monthly average.
        "declining_activity": before > 0 and 4 * activity < before,
        "rising_complaints": recent.complaints > 0 and 2 * recent.complaints > earlier.complaints,
        "no_recent_mobile_use": recent.channels.get("mobile", 0) == 0,
    }
    fired = sum(signals.values())
    return {**signals, "level": ("low", "medium", "high", "high")[fired]}
