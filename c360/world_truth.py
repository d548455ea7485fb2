"""What the full profile of a generated person must say at a given time, from the generator's own facts.

Written from the definitions in docs/PROFILE.md, straight over the person's list of events (never over
what the pipeline stores), so that tests can diff the served profile against it for any clock.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from c360.world import Person, World

CENT = Decimal("0.01")
_WEIGHTS = {"transaction": 2, "login": 5, "page_view": 1, "email_opened": 2, "email_clicked": 4, "order": 5}


def _at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _in_days(at: datetime, now: datetime, days: int, skip: int = 0) -> bool:
    """Inside the `days` calendar days (UTC) ending `skip` days before today."""
    last = now.date() - timedelta(days=skip)
    return last - timedelta(days=days - 1) <= at.date() <= last


def expected_view(world: World, person: Person, now: datetime) -> dict[str, Any]:
    facts = [(f[0], _at(f[1]), f) for f in world.facts(person)]
    events = [(kind, at, f) for kind, at, f in facts if kind != "holding"]
    past = [(kind, at, f) for kind, at, f in events if at <= now]

    def n(kind: str, days: int, skip: int = 0) -> int:
        return sum(1 for k, at, _ in past if k == kind and _in_days(at, now, days, skip))

    def latest(kind: str) -> datetime | None:
        return max((at for k, at, _ in events if k == kind), default=None)

    tx90 = [f for k, at, f in past if k == "transaction" and _in_days(at, now, 90)]
    debits = [Decimal(f[2]).scaleb(-2) for f in tx90 if f[3]]
    rows = [f[2] for k, _, f in facts if k == "holding"]
    active = [r for r in rows if r["status"] == "active"]
    credit = [r for r in active if r["credit_limit"]]
    limit = sum((Decimal(r["credit_limit"]) for r in credit), Decimal(0))
    utilization = (
        (sum((Decimal(r["outstanding_balance"]) for r in credit), Decimal(0)) / limit).quantize(
            Decimal("0.0001")
        )
        if limit
        else None
    )
    transactions = {
        "tx_count_90d": len(tx90),
        "total_activity_volume": sum((Decimal(f[2]).scaleb(-2) for f in tx90), Decimal(0)),
        "avg_debit_amount": (sum(debits, Decimal(0)) / len(debits)).quantize(CENT) if debits else None,
        "active_product_types": sorted({r["product_type"] for r in active}),
        "channels_used": sorted({f[4] for f in tx90}),
        "mobile_count_90d": sum(1 for f in tx90 if f[4] == "mobile"),
        "branch_count_90d": sum(1 for f in tx90 if f[4] == "branch"),
        "last_activity_time": latest("transaction"),
        "spending_diversity": len({f[5] for f in tx90}),
    }
    service = _service(past, now, latest("ticket_open"))
    retail = _retail(events, past, now)
    recent = sum(1 for _, at, _ in past if _in_days(at, now, 30))
    before = sum(1 for _, at, _ in past if _in_days(at, now, 60, 30))
    complaints = [at for k, at, f in past if k == "ticket_open" and f[4]]
    c30 = sum(1 for at in complaints if _in_days(at, now, 30))
    c_before = sum(1 for at in complaints if _in_days(at, now, 60, 30))
    mobile30 = sum(
        1 for k, at, f in past if k == "transaction" and f[4] == "mobile" and _in_days(at, now, 30)
    )
    signals = {
        "declining_activity": before > 0 and recent < before / 4,
        "rising_complaints": c30 > 0 and c30 > c_before / 2,
        "no_recent_mobile_use": mobile30 == 0,
    }
    churn = {**signals, "level": ["low", "medium", "high", "high"][sum(signals.values())]}
    engagement = min(100, sum(w * n(kind, 30) for kind, w in _WEIGHTS.items()))
    customers = sorted((at, f) for k, at, f in events if k == "customer_updated")
    traits: dict[str, Any] = {}
    consent: dict[str, Any] = {}
    if customers:
        at, f = customers[-1]
        traits = {
            name: {"value": value, "source": "core_banking", "updated_at": at}
            for name, value in (("first_name", f[3]), ("last_name", f[4]), ("country", "GB"))
        }
        consent = {flag: {"value": v, "source": "core_banking", "updated_at": at} for flag, v in f[2].items()}
    offer = _offer(churn["level"], utilization, transactions)
    return {
        "traits": traits,
        "consent": consent,
        "holdings": sorted(
            (
                r["product_id"],
                r["product_type"],
                r["status"],
                date(1970, 1, 1) + timedelta(days=r["opened_date"]),
                None if r["credit_limit"] is None else Decimal(r["credit_limit"]),
                Decimal(r["outstanding_balance"]),
            )
            for r in rows
        ),
        "transactions": transactions,
        "service": service,
        "retail": retail,
        "credit_utilization": utilization,
        "engagement_score": engagement,
        "churn_risk": churn,
        "next_best_offer": offer,
        "timeline": sorted(((at, k) for k, at, _ in events), reverse=True)[:50],
    }


def _service(
    past: list[tuple[str, datetime, Any]], now: datetime, last_contact: datetime | None
) -> dict[str, Any]:
    opened = {f[2]: (at, f) for k, at, f in past if k == "ticket_open"}
    solved = {f[2] for k, _, f in past if k == "ticket_solved"}
    open_ids = [t for t in opened if t not in solved]
    rated = [
        Decimal(f[3])
        for k, at, f in past
        if k == "ticket_open" and (at.date() >= now.date() - timedelta(days=29))
    ]
    return {
        "contacts_30d": sum(1 for at, _ in opened.values() if now.date() - at.date() < timedelta(days=30)),
        "contacts_90d": sum(1 for at, _ in opened.values() if now.date() - at.date() < timedelta(days=90)),
        "avg_recent_sentiment": (sum(rated, Decimal(0)) / len(rated)).quantize(CENT) if rated else None,
        "open_issues_7d": sum(1 for t in open_ids if now - opened[t][0] <= timedelta(days=7)),
        "complaints_90d": sum(
            1 for at, f in opened.values() if f[4] and now.date() - at.date() < timedelta(days=90)
        ),
        "last_contact_time": last_contact,
        "has_open_support_ticket": bool(open_ids),
        "open_tickets": sorted(str(t) for t in open_ids),
    }


def _retail(
    events: list[tuple[str, datetime, Any]], past: list[tuple[str, datetime, Any]], now: datetime
) -> dict[str, Any]:
    orders = [f for k, _, f in events if k == "order"]
    skus: Counter[str] = Counter()
    for f in orders:
        for sku, qty in f[4]:
            skus[sku] += qty
    items = sum(skus.values())
    views = sorted(at for k, at, _ in past if k == "page_view")
    session = 0
    if views and now - views[-1] < timedelta(minutes=30):
        session = 1
        while session < len(views) and views[-session] - views[-session - 1] < timedelta(minutes=30):
            session += 1

    def last(kind: str) -> datetime | None:
        return max((at for k, at, _ in events if k == kind), default=None)

    errors = sorted(((at, f[2], f[3], f[4]) for k, at, f in events if k == "web_error"), reverse=True)[:10]
    return {
        "online_orders": sum(1 for f in orders if f[3] == "online"),
        "in_store_orders": sum(1 for f in orders if f[3] == "in_store"),
        "items_purchased": items,
        "items_per_order": (Decimal(items) / len(orders)).quantize(CENT) if orders else None,
        "lifetime_spend": sum((Decimal(f[2]).scaleb(-2) for f in orders), Decimal(0)),
        "top_items": sorted(skus.items(), key=lambda kv: (-kv[1], kv[0]))[:5],
        "last_purchase": last("order"),
        "last_login": last("login"),
        "last_website_visit": last("page_view"),
        "last_email_sent": last("email_sent"),
        "last_email_opened": last("email_opened"),
        "last_email_clicked": last("email_clicked"),
        "session_page_views": session,
        "web_errors": errors,
    }


def _offer(level: str, utilization: Decimal | None, tx: dict[str, Any]) -> str | None:
    """The default rules of profiles/offers.yaml, read as plain English."""
    types = tx["active_product_types"]
    if level == "high":
        return "retention_call"
    if utilization is not None and utilization > Decimal("0.8"):
        return "credit_limit_review"
    if "credit_card" not in types and tx["tx_count_90d"] >= 10:
        return "rewards_credit_card"
    if "savings" not in types and tx["total_activity_volume"] >= 1000:
        return "savings_account"
    if "current_account" in types and tx["mobile_count_90d"] == 0:
        return "mobile_app_onboarding"
    return None
