"""The CDC part of a profile from its live rows: holdings equal the rows, order stats sum exactly, state
traits are each table's latest row and the view shows them with their source and as-of."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128

from profiles.cdc import cdc_profile
from profiles.offers import load_offer_rules
from profiles.view import profile_view


def _doc(table: str, entity: str, key: str, position: str, **row: Any) -> dict[str, Any]:
    return {"table": table, "entity": entity, "key": key, "position": position, "row": row}


def test_profile_part_from_rows() -> None:
    day = datetime(2026, 1, 2, tzinfo=UTC)
    rows = [
        _doc("crm.product_holdings", "holding", "[2]", "2", product_id="CC", credit_limit=Decimal("500.10")),
        _doc("crm.product_holdings", "holding", "[1]", "1", product_id="MORT", status="open"),
        _doc(
            "retail.online_orders", "order", "[1]", "3", amount=Decimal("10.10"), ordered_at=day, items=[{}]
        ),
        _doc(
            "retail.online_orders", "order", "[2]", "4", amount=Decimal("0.20"), ordered_at=day.replace(day=9)
        ),
        _doc("crm.service_interactions", "interaction", "[7]", "5", occurred_at=day),
        _doc("retail.users", "person", "[1]", "9", first_name="Ann", gender="F"),
        _doc("retail.users", "person", "[2]", "8", first_name="Anne", last_name="Lee"),
        _doc("crm.identity_map", "identity_link", '["r","1"]', "1"),
    ]
    assert cdc_profile(rows) == {
        "holdings": [
            {"table": "product_holdings", "key": "[1]", "product_id": "MORT", "status": "open"},
            {
                "table": "product_holdings",
                "key": "[2]",
                "product_id": "CC",
                "credit_limit": Decimal128("500.10"),
            },
        ],
        "orders": {
            "online_orders": {
                "count": 2,
                "amount": Decimal128("10.30"),
                "items": 1,
                "last_at": day.replace(day=9),
            }
        },
        "interactions": {"service_interactions": {"count": 1, "last_at": day}},
        "person": {"first_name": "Ann", "last_name": "Lee", "gender": "F"},  # position 9 wins over 8
        "traits": {},
    }


def test_no_rows_is_an_empty_part() -> None:
    assert cdc_profile([]) == {"holdings": [], "orders": {}, "interactions": {}, "person": {}, "traits": {}}


def test_state_traits_are_each_tables_latest_row_with_its_source_and_as_of() -> None:
    rows = [
        _doc("bureau.credit_bureau", "traits", '["C1"]', "2026-11-01", credit_score=655, as_of="2026-11-01"),
        _doc(
            "bureau.credit_bureau",
            "traits",
            '["C1b"]',
            "2026-10-01",
            credit_score=700,
            risk_tier="C",
            as_of="2026-10-01",
        ),
        _doc(
            "loyalty.members",
            "traits",
            '["L1"]',
            "2026-11-19T23:00:00.000000+00:00",
            loyalty_tier="gold",
            as_of="x",
        ),
    ]
    assert cdc_profile(rows)["traits"] == {
        "credit_bureau": {"source": "bureau", "as_of": "2026-11-01", "values": {"credit_score": 655}},
        "members": {"source": "loyalty", "as_of": "x", "values": {"loyalty_tier": "gold"}},
    }


def test_the_view_shows_state_traits_with_their_source_and_as_of() -> None:
    at = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
    doc = {
        "traits": {"core_banking": {"first_name": {"at": at, "value": "Ann"}}},
        "cdc": cdc_profile(
            [
                _doc(
                    "bureau.credit_bureau",
                    "traits",
                    '["C1"]',
                    "2026-11-01",
                    credit_score=655,
                    as_of="2026-11-01",
                ),
                _doc("loyalty.members", "traits", '["L1"]', "p", loyalty_tier="gold", as_of=at),
            ]
        ),
    }
    traits = profile_view(doc, at, load_offer_rules())["traits"]
    assert traits == {
        "first_name": {"value": "Ann", "source": "core_banking", "updated_at": at},
        "credit_score": {"value": 655, "source": "bureau", "updated_at": datetime(2026, 11, 1, tzinfo=UTC)},
        "loyalty_tier": {"value": "gold", "source": "loyalty", "updated_at": at},
    }
