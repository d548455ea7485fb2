"""Request and response models of the identity endpoints, separate from the stored documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class GraphIdentifierOut(BaseModel):
    type: str
    value: str
    sources: list[str]
    first_seen: datetime
    last_seen: datetime
    events: int
    owned: bool = Field(description="False when the identifier moved to another profile (a reassigned phone)")
    shared_with: int | None = Field(None, description="Other profiles a cookie or device is also seen on")


class IdentityEventOut(BaseModel):
    id: str
    kind: str = Field(description="merge, split or move")
    survivor: str | None
    merged: str | None = None
    moved_from: str | None = None
    key: str | None = None
    at: datetime
    evidence: list[dict[str, Any]]

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> IdentityEventOut:
        return cls(
            id=doc["_id"],
            kind=doc["kind"],
            survivor=doc.get("survivor"),
            merged=doc.get("merged"),
            moved_from=doc.get("from"),
            key=doc.get("key"),
            at=doc["at"],
            evidence=doc.get("evidence") or [],
        )


class ReviewOut(BaseModel):
    id: str
    record_id: str
    profile_id: str
    candidate_profile: str | None
    weight: float | None
    vector: list[int | None]
    status: str
    created_at: datetime

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ReviewOut:
        fields = {k: doc.get(k) for k in ("record_id", "profile_id", "candidate_profile", "weight", "status")}
        return cls(id=doc["_id"], vector=doc.get("vector") or [], created_at=doc["created_at"], **fields)


class IdentityGraphOut(BaseModel):
    profile_id: str
    requested_id: str
    merged_from: list[str]
    identifiers: list[GraphIdentifierOut]
    history: list[IdentityEventOut]
    pending_reviews: list[ReviewOut]


class MergeIn(BaseModel):
    other: str = Field(pattern=r"^p[0-9a-f]{20}$", description="The profile to fold into this one")
    reason: str = Field(min_length=1, max_length=500)


class SplitIn(BaseModel):
    merged: str = Field(pattern=r"^p[0-9a-f]{20}$", description="The merged-away profile to bring back")
    reason: str = Field(min_length=1, max_length=500)


class IdentityChangeOut(BaseModel):
    kind: str
    survivor: str
    merged: str
    events_moved: int
    identities_moved: int


class ErasureOut(BaseModel):
    erasure_id: str
    profile_id: str = Field(description="The live profile erased")
    profiles: list[str] = Field(description="It and every profile that had been merged into it")
    keys_suppressed: int = Field(description="Identifiers only this person held: their events are dropped")
    keys_released: int = Field(description="Shared identifiers (cookies, devices) left to the other people")
    deleted: dict[str, int] = Field(description="Documents deleted from MongoDB, per collection")
