"""profiles/view.py and profiles/offers.py on hand-built profile documents: every expected value below is
worked out by hand from the document, at the edges of each window, cap and threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from profiles.offers import Condition, OfferRule, OfferRules, load_offer_rules
from profiles.view import (
    Window,
    credit_utilization,
    engagement_score,
    profile_view,
    session_page_views,
    windows,
)

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
NO_OFFERS = OfferRules(rules=[])


def day(days_ago: int) -> str:
    return (NOW.date() - timedelta(days=days_ago)).isoformat()


def test_windows_split_the_90_days_ending_today_at_30() -> None:
    daily = {
        day(-1): {"n": {"login": 1000}},  # tomorrow: not yet
        day(0): {"n": {"login": 1}},
        day(29): {"n": {"login": 2}},  # the 30th day of the recent window
        day(30): {"n": {"login": 4}},  # the first day of the earlier one
        day(89): {"n": {"login": 8}},  # its last
        day(90): {"n": {"login": 16}},  # out
    }
    recent, earlier = windows(daily, NOW)
    assert recent.n == {"login": 3}
    assert earlier.n == {"login": 12}


def test_a_window_sums_counts_channels_money_and_service() -> None:
    w = Window()
    w.add(
        {
            "n": {"transaction": 2},
            "tx": {
                "ch": {"mobile": 2},
                "mcc": ["5411"],
                "vol": Decimal("10.50"),
                "debit_n": 1,
                "debit_sum": Decimal("4.25"),
            },
        }
    )
    w.add(
        {
            "n": {"transaction": 1, "ticket_open": 1},
            "tx": {
                "ch": {"mobile": 1, "branch": 3},
                "mcc": ["5812"],
                "vol": Decimal("1.25"),
                "debit_n": 2,
                "debit_sum": Decimal("3"),
            },
            "svc": {"sentiment": -40, "sentiment_n": 2, "complaints": 1},
        }
    )
    w.add({})
    assert w.n == {"transaction": 3, "ticket_open": 1}
    assert w.channels == {"mobile": 3, "branch": 3}
    assert w.merchant_categories == {"5411", "5812"}
    assert (w.volume, w.debit_n, w.debit_sum) == (Decimal("11.75"), 3, Decimal("7.25"))
    assert (w.sentiment, w.sentiment_n, w.complaints) == (-40, 2, 1)
    other = Window(
        n={"login": 1, "transaction": 1},
        channels={"web": 1},
        merchant_categories={"1"},
        volume=Decimal(1),
        debit_n=1,
        debit_sum=Decimal(2),
        sentiment=5,
        sentiment_n=1,
        complaints=2,
    )
    both = w.plus(other)
    assert both.n == {"transaction": 4, "ticket_open": 1, "login": 1}
    assert both.channels == {"mobile": 3, "branch": 3, "web": 1}
    assert both.merchant_categories == {"5411", "5812", "1"}
    assert (both.volume, both.debit_n, both.debit_sum) == (Decimal("12.75"), 4, Decimal("9.25"))
    assert (both.sentiment, both.sentiment_n, both.complaints) == (-35, 3, 3)
    assert w.n == {"transaction": 3, "ticket_open": 1}  # plus leaves both sides alone


def test_credit_utilization_counts_active_products_with_a_limit() -> None:
    holdings = [
        {"status": "active", "credit_limit": Decimal(1000), "outstanding_balance": Decimal(250)},
        {"status": "active", "credit_limit": Decimal(3000), "outstanding_balance": None},
        {"status": "closed", "credit_limit": Decimal(5000), "outstanding_balance": Decimal(5000)},
        {"status": "active", "credit_limit": None, "outstanding_balance": Decimal(99)},
    ]
    assert credit_utilization(holdings) == Decimal("0.0625")  # 250 / 4000
    assert credit_utilization(
        [{"status": "active", "credit_limit": Decimal(3), "outstanding_balance": 1}]
    ) == (Decimal("0.3333"))
    assert credit_utilization(holdings[2:]) is None


def test_engagement_score_weights_and_caps_at_100() -> None:
    w = Window(
        n={
            "transaction": 1,
            "login": 1,
            "page_view": 1,
            "email_opened": 1,
            "email_clicked": 1,
            "order": 1,
            "ticket_open": 50,
        }
    )
    assert engagement_score(w) == 2 + 5 + 1 + 2 + 4 + 5
    assert engagement_score(Window(n={"login": 20})) == 100
    assert engagement_score(Window(n={"login": 21})) == 100
    assert engagement_score(Window(n={"login": 19})) == 95


def test_session_page_views_count_the_current_run_of_views() -> None:
    minutes = [NOW - timedelta(minutes=m) for m in (100, 45, 29, 10, 1)]
    # 45 -> 29 is 16 min, 29 -> 10 and 10 -> 1 too; 100 -> 45 is 55 min, a new session.
    assert session_page_views([*minutes, NOW + timedelta(minutes=1)], NOW) == 4
    assert session_page_views([NOW - timedelta(minutes=30)], NOW) == 0  # the last view 30 min ago: over
    assert session_page_views([NOW - timedelta(minutes=29, seconds=59)], NOW) == 1
    exact_gap = [NOW - timedelta(minutes=40), NOW - timedelta(minutes=10)]
    assert session_page_views(exact_gap, NOW) == 1
    assert session_page_views([], NOW) == 0


def _doc() -> dict:
    at = NOW - timedelta(days=2)
    return {
        "daily": {
            day(1): {
                "n": {"transaction": 3, "login": 2, "ticket_open": 1},
                "tx": {
                    "ch": {"branch": 3},
                    "mcc": ["5411", "5812"],
                    "vol": Decimal("300.00"),
                    "debit_n": 3,
                    "debit_sum": Decimal("100.00"),
                },
                "svc": {"sentiment": 150, "sentiment_n": 2, "complaints": 1},
            },
            day(40): {"n": {"transaction": 40}, "tx": {"ch": {"mobile": 40}, "vol": Decimal("800.00")}},
        },
        "traits": {
            "web": {"first_name": {"value": "Annie", "at": at}, "city": {"value": "Leeds", "at": at}},
            "crm": {"first_name": {"value": "Ann", "at": at}},
            "zz_partner": {"tier": {"value": "gold", "at": at}},
        },
        "consent": {"email": {"value": False, "source": "crm", "at": at}},
        "cdc": {
            "person": {"city": "York", "postcode": "YO1"},
            "holdings": [
                {"product_id": "H1", "product_type": "current_account", "status": "active", "extra": 1},
                {
                    "product_id": "H2",
                    "product_type": "credit_card",
                    "status": "active",
                    "credit_limit": Decimal(1000),
                    "outstanding_balance": Decimal(900),
                },
                {"product_id": "H3", "product_type": "savings", "status": "closed"},
            ],
            "orders": {"online_orders": {"count": 2, "items": 5, "amount": Decimal("20.00"), "last_at": at}},
        },
        "retail": {
            "orders": {"online": 1, "in_store": 1},
            "items": 1,
            "spend": Decimal("5.00"),
            "skus": {"b": 2, "a": 2, "c": 9, "d": 1, "e": 1, "f": 1},
        },
        "last": {"transaction": at, "order": at - timedelta(days=1), "login": at, "ticket_open": at},
        "tickets": {
            "t-old": {"subject": "card", "opened": NOW - timedelta(days=8)},
            "t-new": {"subject": "app", "opened": NOW - timedelta(days=7), "complaint": True},
            "t-solved": {"opened": NOW - timedelta(days=1), "solved": NOW - timedelta(hours=1)},
            "t-future": {"opened": NOW + timedelta(days=1)},
            "t-reopened-later": {"opened": NOW - timedelta(days=3), "solved": NOW + timedelta(hours=1)},
        },
        "web": {"views": [NOW - timedelta(minutes=5)], "errors": ["404 /x"]},
        "timeline": [{"type": "login"}],
        "segments": ["vip"],
    }


def test_profile_view_of_a_hand_built_document() -> None:
    view = profile_view(_doc(), NOW, load_offer_rules())
    assert view["as_of"] == NOW
    traits = view["traits"]
    assert traits["first_name"] == {"value": "Ann", "source": "crm", "updated_at": NOW - timedelta(days=2)}
    assert traits["city"]["value"] == "York"  # retail (CDC) outranks web
    assert traits["city"]["source"] == "retail" and traits["city"]["updated_at"] is None
    assert traits["tier"]["source"] == "zz_partner"
    assert view["consent"] == {
        "email": {"value": False, "source": "crm", "updated_at": NOW - timedelta(days=2)}
    }
    assert [h["product_id"] for h in view["holdings"]] == ["H1", "H2", "H3"]
    assert "extra" not in view["holdings"][0] and view["holdings"][0]["credit_limit"] is None
    tx = view["transactions"]
    assert tx["tx_count_90d"] == 43
    assert tx["total_activity_volume"] == Decimal("1100.00")
    assert tx["avg_debit_amount"] == Decimal("33.33")
    assert tx["active_product_types"] == ["credit_card", "current_account"]
    assert tx["channels_used"] == ["branch", "mobile"]
    assert (tx["mobile_count_90d"], tx["branch_count_90d"]) == (40, 3)
    assert tx["last_activity_time"] == NOW - timedelta(days=2)
    assert tx["spending_diversity"] == 2
    service = view["service"]
    assert (service["contacts_30d"], service["contacts_90d"]) == (1, 1)
    assert service["avg_recent_sentiment"] == Decimal("0.75")  # 150 / 2 / 100
    assert service["complaints_90d"] == 1
    assert service["last_contact_time"] == NOW - timedelta(days=2)
    assert [t["ticket_id"] for t in service["open_tickets"]] == ["t-reopened-later", "t-new", "t-old"]
    assert service["open_tickets"][1] == {
        "ticket_id": "t-new",
        "subject": "app",
        "opened": NOW - timedelta(days=7),
        "complaint": True,
    }
    assert service["open_tickets"][2]["complaint"] is False
    assert service["open_issues_7d"] == 2  # opened exactly 7 days ago counts
    assert service["has_open_support_ticket"] is True
    retail = view["retail"]
    assert (retail["online_orders"], retail["in_store_orders"], retail["items_purchased"]) == (3, 1, 6)
    assert retail["items_per_order"] == Decimal("1.50")
    assert retail["lifetime_spend"] == Decimal("25.00")
    assert retail["top_items"] == [
        {"sku": s, "count": n} for s, n in [("c", 9), ("a", 2), ("b", 2), ("d", 1), ("e", 1)]
    ]
    assert retail["last_purchase"] == NOW - timedelta(days=2)  # the CDC order is later than the event's
    assert retail["last_login"] == NOW - timedelta(days=2)
    assert retail["last_website_visit"] is None
    assert retail["session_page_views"] == 1 and retail["web_errors"] == ["404 /x"]
    assert view["credit_utilization"] == Decimal("0.9000")
    # 3 transactions (6) + 2 logins (10); the ticket weighs nothing.
    assert view["engagement_score"] == 16
    churn = view["churn_risk"]
    # recent: 6 events, earlier: 40 -> 24 < 40 declining; one complaint now, none before; no mobile now.
    assert churn == {
        "declining_activity": True,
        "rising_complaints": True,
        "no_recent_mobile_use": True,
        "level": "high",
    }
    assert view["next_best_offer"]["offer"] == "retention_call"
    assert view["timeline"] == [{"type": "login"}] and view["segments"] == ["vip"]


def test_an_empty_profile_reads_as_nothing_known() -> None:
    view = profile_view({}, NOW, NO_OFFERS)
    assert view["traits"] == {} and view["consent"] == {} and view["holdings"] == []
    assert view["transactions"]["avg_debit_amount"] is None
    assert view["transactions"]["total_activity_volume"] == 0
    assert view["service"]["avg_recent_sentiment"] is None
    assert view["service"]["has_open_support_ticket"] is False
    assert view["retail"]["items_per_order"] is None and view["retail"]["last_purchase"] is None
    assert view["retail"]["lifetime_spend"] == 0 and view["retail"]["top_items"] == []
    assert view["credit_utilization"] is None and view["next_best_offer"] is None
    assert view["churn_risk"] == {
        "declining_activity": False,
        "rising_complaints": False,
        "no_recent_mobile_use": True,
        "level": "medium",
    }
    assert view["timeline"] == [] and view["segments"] == []


@pytest.mark.parametrize(
    ("recent_n", "earlier_n", "declining"),
    [(1, 4, False), (1, 5, True), (0, 0, False), (0, 1, True)],
)
def test_declining_activity_is_under_a_quarter_of_the_two_months_before(
    recent_n: int, earlier_n: int, declining: bool
) -> None:
    daily = {
        day(1): {"n": {"login": recent_n}, "tx": {"ch": {"mobile": 1}}},
        day(31): {"n": {"login": earlier_n}},
    }
    churn = profile_view({"daily": daily}, NOW, NO_OFFERS)["churn_risk"]
    assert churn["declining_activity"] is declining
    assert churn["no_recent_mobile_use"] is False
    assert churn["level"] == ("medium" if declining else "low")


@pytest.mark.parametrize(
    ("recent", "earlier", "rising"), [(1, 1, True), (1, 2, False), (2, 3, True), (0, 0, False)]
)
def test_rising_complaints_outnumber_half_of_the_earlier_ones(
    recent: int, earlier: int, rising: bool
) -> None:
    daily = {day(1): {"svc": {"complaints": recent}}, day(31): {"svc": {"complaints": earlier}}}
    assert profile_view({"daily": daily}, NOW, NO_OFFERS)["churn_risk"]["rising_complaints"] is rising


@pytest.mark.parametrize(
    ("op", "value", "actual", "holds"),
    [
        ("gt", 0.8, Decimal("0.8001"), True),
        ("gt", 0.8, Decimal("0.8"), False),
        ("gte", 10, 10, True),
        ("gte", 10, 9, False),
        ("lt", 5, 4, True),
        ("lt", 5, 5, False),
        ("lte", 5, 5, True),
        ("lte", 5, 6, False),
        ("eq", "high", "high", True),
        ("eq", "high", "low", False),
        ("ne", "high", "low", True),
        ("ne", "high", "high", False),
        ("has", "savings", ["savings"], True),
        ("has", "savings", None, False),
        ("lacks", "savings", ["current"], True),
        ("lacks", "savings", ["savings"], False),
        ("gt", 0, None, False),
        ("lte", 0, None, False),
    ],
)
def test_offer_conditions(op: str, value: object, actual: object, holds: bool) -> None:
    assert Condition(fact="f", op=op, value=value).holds({"f": actual}) is holds


def test_the_first_rule_whose_every_condition_holds_wins() -> None:
    both = [Condition(fact="a", op="eq", value=1), Condition(fact="b", op="eq", value=2)]
    rules = OfferRules(
        rules=[
            OfferRule(offer="first", reason="r1", when=both),
            OfferRule(offer="second", reason="r2", when=both[:1]),
        ]
    )
    assert rules.choose({"a": 1, "b": 2}).offer == "first"
    assert rules.choose({"a": 1, "b": 3}).offer == "second"
    assert rules.choose({"a": 0, "b": 2}) is None
    shipped = load_offer_rules()
    assert shipped.rules[0].offer == "retention_call"
    assert (
        shipped.choose({"churn_level": "low", "credit_utilization": Decimal("0.81")}).offer
        == "credit_limit_review"
    )
