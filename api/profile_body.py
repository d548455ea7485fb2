"""The profile response body as plain data, serialized once.

`ProfileOut` (api/schemas.py) documents this shape in the OpenAPI schema; building the model per request
and validating an 8 KB profile again cost more CPU than the read itself, so the body is assembled here
field by field in the model's order and written by `encoded`, which gives the bytes
`ProfileOut.model_dump_json()` would (Decimal as a string, datetimes as ISO 8601 with a `Z`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from api.masking import PERSONAL_TRAITS, mask_identifier, mask_text

# Dates of the hot reads are naive UTC (operational/async_reads.py): written as UTC with a `Z`, as
# pydantic writes an aware UTC date. orjson writes a body in about half the time pydantic-core's
# `to_json` takes (docs/BENCHMARKS.md).
_UTC_Z = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z

IDENTIFIER_FIELDS = ("type", "value", "first_seen", "last_seen")
WEB_ERROR_FIELDS = ("at", "url", "code", "message")
TIMELINE_FIELDS = ("at", "event_id", "type", "source", "channel", "summary")


def profile_body(doc: dict[str, Any], requested_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """`doc` (the stored profile) and `view` (profiles/view.py) as `ProfileOut`'s fields."""
    identifiers = sorted(doc.get("identifiers", {}).values(), key=lambda i: (i["type"], i["value"]))
    stats = doc.get("stats", {})
    return {
        "id": doc["_id"],
        "requested_id": requested_id,
        "version": doc["version"],
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "first_seen": doc.get("first_seen"),
        "last_seen": doc.get("last_seen"),
        "event_count": doc.get("event_count", 0),
        "stats": {t: {"count": s["count"], "amount": s.get("amount")} for t, s in stats.items()},
        "channels": doc.get("channels", {}),
        "identifiers": _shaped(identifiers, IDENTIFIER_FIELDS),
        "merged_from": doc.get("merged_from", []),
        "segments": view["segments"],
        "as_of": view["as_of"],
        "traits": view["traits"],
        "consent": view["consent"],
        "holdings": view["holdings"],
        "transactions": view["transactions"],
        "service": view["service"],
        "retail": {
            **view["retail"],
            "web_errors": _shaped(view["retail"]["web_errors"], WEB_ERROR_FIELDS),
        },
        "credit_utilization": view["credit_utilization"],
        "engagement_score": view["engagement_score"],
        "churn_risk": view["churn_risk"],
        "next_best_offer": view["next_best_offer"],
        "timeline": _shaped(view["timeline"], TIMELINE_FIELDS),
    }


def masked(body: dict[str, Any]) -> dict[str, Any]:
    """Identifiers and personal traits masked, for readers without the `pii` grant."""
    identifiers = [{**i, "value": mask_identifier(i["type"], i["value"])} for i in body["identifiers"]]
    traits = {
        name: {**t, "value": mask_text(t["value"])} if name in PERSONAL_TRAITS else t
        for name, t in body["traits"].items()
    }
    return {**body, "identifiers": identifiers, "traits": traits}


def encoded(body: dict[str, Any]) -> bytes:
    """The body as JSON, byte for byte what `ProfileOut.model_dump_json()` writes."""
    return orjson.dumps(body, default=_decimal, option=_UTC_Z)


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not part of a profile body")


def _shaped(entries: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Entries with exactly `fields`, in order: as stored when the writer gave them that shape (a third of
    the cost of copying each), copied with the missing ones as None otherwise."""
    return [e if tuple(e) == fields else {f: e.get(f) for f in fields} for e in entries]
