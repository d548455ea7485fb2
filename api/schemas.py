"""Response models: the public shape of a profile, separate from the stored document."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from api.profile_schemas import (
    ChurnRiskOut,
    ConsentOut,
    HoldingOut,
    OfferOut,
    RetailOut,
    ServiceOut,
    TimelineEntryOut,
    TraitOut,
    TransactionsOut,
)


class TypeStatsOut(BaseModel):
    count: int
    amount: Decimal | None = Field(None, description="Exact sum of the events' money amounts, as a string")


class IdentifierOut(BaseModel):
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime


class ProfileOut(BaseModel):
    """The full profile; api/profile_body.py builds its bodies without validating them again."""

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
    as_of: datetime = Field(description="The clock the windows and derived fields were evaluated at")
    traits: dict[str, TraitOut]
    consent: dict[str, ConsentOut]
    holdings: list[HoldingOut]
    transactions: TransactionsOut
    service: ServiceOut
    retail: RetailOut
    credit_utilization: Decimal | None = Field(description="Outstanding / limit of active credit products")
    engagement_score: int = Field(description="0-100 from the last 30 days' activity")
    churn_risk: ChurnRiskOut
    next_best_offer: OfferOut | None
    timeline: list[TimelineEntryOut] = Field(description="The latest 50 events across all sources")


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


class ProfileHit(BaseModel):
    id: str
    name: str | None
    identifiers: list[IdentifierOut]


class TimelinePage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; None at the end")


class IngestAccepted(BaseModel):
    event_id: str
    applied: bool = Field(description="False when this event id was applied before (idempotent)")


class Readiness(BaseModel):
    ready: bool
    mongo: str
    ingest_workers: int
    detail: str
