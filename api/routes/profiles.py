"""Profile reads: by id, by any identifier, and the recent events behind a profile."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import ValidationError

from api.deps import ReaderDep
from api.schemas import EventOut, ProfileOut
from ingest.events import IdentifierType

router = APIRouter(prefix="/profiles", tags=["profiles"])
ProfileId = Annotated[
    str, Path(pattern=r"^p[0-9a-f]{20}$", description="A profile id such as p0123456789abcdef0123")
]


@router.get("/lookup", response_model=ProfileOut, summary="Find the profile holding an identifier")
def lookup(
    reader: ReaderDep,
    type: Annotated[IdentifierType, Query(description="Identifier type")],
    value: Annotated[str, Query(min_length=1, max_length=320, description="Raw or normalized value")],
) -> ProfileOut:
    try:
        doc = reader.lookup(type, value)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise HTTPException(422, f"invalid {type.value}: {message}") from None
    if doc is None:
        raise HTTPException(404, f"no profile holds {type.value} {value.strip()!r}")
    return ProfileOut.from_document(doc, doc["_id"])


@router.get("/{profile_id}", response_model=ProfileOut, summary="Get a profile by id")
def get_profile(reader: ReaderDep, profile_id: ProfileId) -> ProfileOut:
    return ProfileOut.from_document(_live(reader, profile_id), profile_id)


@router.get("/{profile_id}/events", response_model=list[EventOut], summary="Most recent events first")
def recent_events(
    reader: ReaderDep, profile_id: ProfileId, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[EventOut]:
    doc = _live(reader, profile_id)
    return [EventOut.from_document(e) for e in reader.recent_events(doc["_id"], limit)]


def _live(reader: ReaderDep, profile_id: str) -> dict[str, Any]:
    doc = reader.get(profile_id)
    if doc is None:
        raise HTTPException(404, f"profile {profile_id} not found")
    return doc
