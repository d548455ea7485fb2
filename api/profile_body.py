"""The profile response body as plain data, serialized once.

`ProfileOut` (api/schemas.py) documents this shape in the OpenAPI schema; building the model per request
and validating an 8 KB profile again cost more CPU than the read itself, so the body is assembled here
field by field in the model's order and written with pydantic-core's encoder (Decimal as a string,
datetimes as ISO 8601), which gives the bytes `ProfileOut.model_dump_json()` would.
"""

from __future__ import annotations

from typing import Any

from api.masking import PERSONAL_TRAITS, mask_identifier, mask_text

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
        "identifiers": [_pick(i, IDENTIFIER_FIELDS) for i in identifiers],
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
            "web_errors": [_pick(e, WEB_ERROR_FIELDS) for e in view["retail"]["web_errors"]],
        },
        "credit_utilization": view["credit_utilization"],
        "engagement_score": view["engagement_score"],
        "churn_risk": view["churn_risk"],
        "next_best_offer": view["next_best_offer"],
        "timeline": [_pick(e, TIMELINE_FIELDS) for e in view["timeline"]],
    }


def masked(body: dict[str, Any]) -> dict[str, Any]:
    """Identifiers and personal traits masked, for readers without the `pii` grant."""
    identifiers = [{**i, "value": mask_identifier(i["type"], i["value"])} for i in body["identifiers"]]
    traits = {
        name: {**t, "value": mask_text(t["value"])} if name in PERSONAL_TRAITS else t
        for name, t in body["traits"].items()
    }
    return {**body, "identifiers": identifiers, "traits": traits}


def _pick(entry: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: entry.get(f) for f in fields}
