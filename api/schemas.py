"""Response models: the public shape of a profile, separate from the stored document."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field


class TypeStatsOut(BaseModel):
    count: int
    amount: Decimal | None = Field(None, description="Exact sum of the events' money amounts, as a string")


class IdentifierOut(BaseModel):
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime


class ProfileOut(BaseModel):
    id: str
    requested_id: str = Field(description="The id asked for; differs from `id` when it was merged away")
    version: int
    created_at: datetime
    updated_at: datetime
    first_seen: datetime | None
    last_seen: datetime | None
    event_count: int
    stats: dict[str, TypeStatsOut]
    channels: dict[str, datetime] = Field(description="Last activity time per channel")
    identifiers: list[IdentifierOut]
    merged_from: list[str]
    segments: list[str] = Field(default_factory=list, description="Segments (lake.segments_file) it is in")

    @classmethod
    def from_document(cls, doc: dict[str, Any], requested_id: str) -> ProfileOut:
        identifiers = sorted(doc.get("identifiers", {}).values(), key=lambda i: (i["type"], i["value"]))
        return cls(
            id=doc["_id"],
            requested_id=requested_id,
            version=doc["version"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            first_seen=doc.get("first_seen"),
            last_seen=doc.get("last_seen"),
            event_count=doc.get("event_count", 0),
            stats=doc.get("stats", {}),
            channels=doc.get("channels", {}),
            identifiers=identifiers,
            merged_from=doc.get("merged_from", []),
            segments=doc.get("segments", []),
        )


class EventOut(BaseModel):
    event_id: str
    source: str
    type: str
    occurred_at: datetime
    channel: str | None
    amount: Decimal | None
    currency: str | None
    identifiers: list[dict[str, str]]
    attributes: dict[str, Any]

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> EventOut:
        return cls(event_id=doc["_id"], **{k: doc.get(k) for k in cls.model_fields if k != "event_id"})


class Readiness(BaseModel):
    ready: bool
    mongo: str
    ingest_workers: int
    detail: str
