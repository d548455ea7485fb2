"""A profile's CDC part, pure: recomputed from the customer's current rows whenever one of them changes,
so it always equals the source tables and can never drift (no increments to undo on delete).

    cdc: {holdings:     [{table, key, <columns>}, ...]              one per live row, by table and key
          orders:       {<table>: {count, amount, items, last_at}}  amount exact, items = line items
          interactions: {<table>: {count, last_at}}
          person:       {<columns>}                                  latest row by position wins
          traits:       {<table>: {source, as_of, values: {<columns>}}}  latest row by position wins
Values are BSON-ready (Decimal as Decimal128): the writer sends them in raw update commands.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128


def cdc_profile(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The CDC part of one profile from its live `cdc_rows` documents (see profiles/row_state.py)."""
    ordered = sorted(rows, key=lambda d: (d["table"], d["key"]))
    holdings: list[dict[str, Any]] = []
    orders: dict[str, dict[str, Any]] = {}
    interactions: dict[str, dict[str, Any]] = {}
    person: dict[str, Any] = {}
    traits: dict[str, dict[str, Any]] = {}
    for doc in sorted(ordered, key=lambda d: d["position"] or ""):
        if doc["entity"] == "person":
            person.update(doc["row"])
        elif doc["entity"] == "traits":
            values = {name: value for name, value in doc["row"].items() if name != "as_of"}
            source = doc["table"].split(".", 1)[0]
            traits[_table_name(doc["table"])] = {
                "source": source,
                "as_of": doc["row"]["as_of"],
                "values": values,
            }
    for doc in ordered:
        entity, table, row = doc["entity"], _table_name(doc["table"]), doc["row"]
        if entity == "holding":
            holdings.append({"table": table, "key": doc["key"], **row})
        elif entity == "order":
            summary = orders.setdefault(table, _new_order_summary())
            summary["count"] += 1
            summary["amount"] += row.get("amount", 0)
            summary["items"] += len(row.get("items", ()))
            summary["last_at"] = _latest(summary["last_at"], row.get("ordered_at"))
        elif entity == "interaction":
            summary = interactions.setdefault(table, {"count": 0, "last_at": None})
            summary["count"] += 1
            summary["last_at"] = _latest(summary["last_at"], row.get("occurred_at"))
    view = {
        "holdings": holdings,
        "orders": orders,
        "interactions": interactions,
        "person": person,
        "traits": traits,
    }
    return _bson_ready(view)


def _new_order_summary() -> dict[str, Any]:
    return {"count": 0, "amount": Decimal(0), "items": 0, "last_at": None}


def _table_name(table: str) -> str:
    """'crm.product_holdings' -> 'product_holdings': a slug, safe as a field name."""
    return table.split(".", 1)[-1]


def _latest(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None else max(current, candidate)


def _bson_ready(value: Any) -> Any:
    if isinstance(value, Decimal):
        return Decimal128(value)
    if isinstance(value, dict):
        return {k: _bson_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bson_ready(v) for v in value]
    return value
