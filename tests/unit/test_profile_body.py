"""The hot read's body (api/profile_body.py) from a profile decoded with naive UTC dates is byte for byte
what pydantic's `ProfileOut` writes for the same profile with UTC-aware dates: pydantic is the oracle,
orjson the encoder under test. The profile is built by hand, with the awkward values: microseconds and
none, decimals with exponents and trailing zeros, an open ticket, a session of page views, text outside
ASCII, and stored entries both in and out of the response's field order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from api.profile_body import encoded, masked, profile_body
from api.schemas import ProfileOut
from profiles.offers import load_offer_rules
from profiles.view import profile_view

NOW = datetime(2026, 11, 20, 12, 30, 15, 250000, tzinfo=UTC)


def _profile(at: datetime) -> dict[str, Any]:
    """A stored profile whose dates are `at` shifted; `at` aware or naive decides which the doc holds."""
    day = at.date().isoformat()
    timeline = [
        {
            "at": at - timedelta(hours=1),
            "event_id": "web-1",
            "type": "page_view",
            "source": "web",
            "channel": "web",
            "summary": 'Viewed /cart — «ünïcode» \u2028 "quoted"',
        },
        # Not in the response's field order, and missing channel: copied into shape.
        {
            "summary": "Paid 12.50 GBP",
            "type": "transaction",
            "event_id": "tx-1",
            "source": "core_banking",
            "at": at - timedelta(days=2),
        },
    ]
    return {
        "_id": "p0123456789abcdef0123",
        "version": 7,
        "created_at": at - timedelta(days=40),
        "updated_at": at.replace(microsecond=0),
        "first_seen": at - timedelta(days=40, microseconds=1),
        "last_seen": at - timedelta(hours=1),
        "event_count": 3,
        "stats": {"transaction": {"count": 2, "amount": Decimal("1.250E+3")}, "page_view": {"count": 1}},
        "channels": {"web": at - timedelta(hours=1)},
        "identifiers": {
            "h1": {
                "first_seen": at - timedelta(days=40),
                "last_seen": at,
                "type": "email",
                "value": "ann@x.com",
            },
            "h2": {"type": "phone", "value": "+447700900123", "first_seen": at, "last_seen": at},
        },
        "daily": {
            day: {
                "n": {"transaction": 2, "page_view": 1, "ticket_open": 1},
                "tx": {
                    "vol": Decimal("1250.00"),
                    "debit_n": 1,
                    "debit_sum": Decimal("12.50"),
                    "ch": {"mobile": 2},
                    "mcc": ["5411"],
                },
                "svc": {"sentiment": -40, "sentiment_n": 1, "complaints": 1},
            }
        },
        "last": {"transaction": at - timedelta(days=2), "ticket_open": at - timedelta(days=1)},
        "traits": {
            "crm": {"first_name": {"at": at, "value": "Ånn"}, "last_name": {"at": at, "value": "Smith"}}
        },
        "consent": {"email": {"at": at - timedelta(days=3), "value": True, "source": "crm"}},
        "tickets": {"T-1": {"opened": at - timedelta(days=1), "subject": "Card blocked", "complaint": True}},
        "web": {
            "views": [at - timedelta(minutes=40), at - timedelta(minutes=20)],
            "errors": [{"at": at - timedelta(minutes=20), "url": "/pay", "code": 500, "message": "boom"}],
        },
        "retail": {"orders": {"online": 1}, "items": 3, "spend": Decimal("0.10"), "skus": {"SKU-1": 3}},
        "cdc": {
            "holdings": [
                {
                    "product_id": "ACC-1",
                    "product_type": "credit_card",
                    "status": "active",
                    "opened_on": "2024-01-01",
                    "credit_limit": Decimal("1000"),
                    "outstanding_balance": Decimal("250.5"),
                }
            ]
        },
        "timeline": timeline,
        "merged_from": ["p00000000000000000001"],
    }


@pytest.mark.parametrize("sees_pii", [True, False])
def test_a_naive_utc_profile_encodes_as_pydantic_writes_the_aware_one(sees_pii: bool) -> None:
    rules = load_offer_rules()
    aware, naive = _profile(NOW), _profile(NOW.replace(tzinfo=None))
    want_body = profile_body(aware, "p0123456789abcdef0124", profile_view(aware, NOW, rules))
    got_body = profile_body(
        naive, "p0123456789abcdef0124", profile_view(naive, NOW.replace(tzinfo=None), rules)
    )
    if not sees_pii:
        want_body, got_body = masked(want_body), masked(got_body)
    want = ProfileOut.model_validate(want_body).model_dump_json().encode()
    assert encoded(got_body) == want
    # The view found what the profile holds (so the comparison covered those fields).
    out = ProfileOut.model_validate_json(want)
    assert out.service.has_open_support_ticket and out.retail.session_page_views == 2
    assert out.transactions.tx_count_90d == 2 and out.timeline[1].channel is None
