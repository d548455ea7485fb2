"""Profile reads: by id, by any identifier, search, and the timeline of events behind a profile.

Profile bodies carry an ETag (profile version, the minute the windows were evaluated at, masking), so
a page polling with If-None-Match gets 304 until something changes.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response
from pydantic import ValidationError

from api.auth import Principal
from api.deps import ProfileRead, ProfileReadDep, ReaderDep, ReaderRole, StoreDep
from api.errors import responses
from api.masking import PERSONAL_IDENTIFIERS, PERSONAL_TRAITS, mask_identifier, mask_text
from api.profile_body import encoded, masked, profile_body
from api.schemas import EventOut, IdentifierOut, ProfileHit, ProfileOut, TimelinePage
from ingest.events import IdentifierType
from operational.reads import ProfileReader
from operational.search import ProfileSearch
from profiles.view import profile_view

router = APIRouter(prefix="/profiles", tags=["profiles"], responses=responses(401, 403))
ProfileId = Annotated[
    str, Path(pattern=r"^p[0-9a-f]{20}$", description="A profile id such as p0123456789abcdef0123")
]
IfNoneMatch = Annotated[str | None, Header(description="An ETag from an earlier response")]
LookupType = Annotated[IdentifierType, Query(description="Identifier type")]
LookupValue = Annotated[str, Query(min_length=1, max_length=320, description="Raw or normalized value")]
_CURSOR = r"^[A-Za-z0-9_=-]{1,200}$"


@router.get("/search", response_model=list[ProfileHit], summary="Profiles by name, email, phone or id prefix")
def search(
    store: StoreDep,
    caller: ReaderRole,
    q: Annotated[
        str, Query(min_length=2, max_length=100, description="'ann sm', 'ann@', '07700 9', 'CUST-12'")
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[ProfileHit]:
    hits = ProfileSearch(store).search(q, limit)
    return [_hit(doc, caller) for doc in hits]


@router.get(
    "/lookup",
    response_model=ProfileOut,
    summary="Find the profile holding an identifier",
    responses=responses(304, 404, e404="No profile holds this identifier"),
)
async def lookup(
    read: ProfileReadDep, type: LookupType, value: LookupValue, if_none_match: IfNoneMatch = None
) -> Response:
    try:
        doc = await read.reader.lookup(type, value)
    except ValidationError as exc:
        # Nobody can hold what is not a valid identifier of its type: not found, saying why.
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        detail = f"no profile holds {type.value} {value.strip()[:100]!r}: invalid {type.value}: {message}"
        raise HTTPException(404, detail) from None
    if doc is None:
        raise HTTPException(404, f"no profile holds {type.value} {value.strip()!r}")
    return _profile_response(doc, doc["_id"], read, if_none_match)


@router.get(
    "/{profile_id}",
    response_model=ProfileOut,
    summary="Get a profile by id",
    responses=responses(304, 404),
    operation_id="get_profile",
)
async def get_profile(
    read: ProfileReadDep, profile_id: ProfileId, if_none_match: IfNoneMatch = None
) -> Response:
    doc = _found(await read.reader.get(profile_id), profile_id)
    return _profile_response(doc, profile_id, read, if_none_match)


@router.get(
    "/{profile_id}/events",
    response_model=list[EventOut],
    summary="Most recent events first",
    responses=responses(404),
)
def recent_events(
    reader: ReaderDep,
    caller: ReaderRole,
    profile_id: ProfileId,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EventOut]:
    doc = _live(reader, profile_id)
    return [_event(e, caller) for e in reader.recent_events(doc["_id"], limit)]


@router.get(
    "/{profile_id}/timeline",
    response_model=TimelinePage,
    summary="Every event, newest first, paged",
    responses=responses(404, e404="No such profile, or no page at this cursor"),
)
def timeline(
    reader: ReaderDep,
    caller: ReaderRole,
    profile_id: ProfileId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=_CURSOR, description="next_cursor of the previous page")
    ] = None,
) -> TimelinePage:
    doc = _live(reader, profile_id)
    before = None if cursor is None else _decode_cursor(cursor)
    events = reader.timeline(doc["_id"], limit + 1, before)
    more = len(events) > limit
    page = events[:limit]
    next_cursor = _encode_cursor(page[-1]["occurred_at"], page[-1]["_id"]) if more else None
    return TimelinePage(items=[_event(e, caller) for e in page], next_cursor=next_cursor)


def _profile_response(doc: dict[str, Any], requested_id: str, read: ProfileRead, tag: str | None) -> Response:
    caller, now = read.caller, read.now
    etag = f'W/"{doc["_id"]}-{doc["version"]}-{now:%Y%m%d%H%M}-{int(caller.sees_pii)}"'
    if tag is not None and etag in {t.strip() for t in tag.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    # The reader's dates are naive UTC (operational/async_reads.py): the windows are evaluated on a naive
    # UTC clock too.
    utc_now = now.astimezone(UTC).replace(tzinfo=None)
    body = profile_body(doc, requested_id, profile_view(doc, utc_now, read.rules))
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    content = encoded(body if caller.sees_pii else masked(body))
    return Response(content, media_type="application/json", headers=headers)


def _hit(doc: dict[str, Any], caller: Principal) -> ProfileHit:
    identifiers = [
        IdentifierOut(**i)
        for i in sorted(doc.get("identifiers", {}).values(), key=lambda i: (i["type"], i["value"]))
    ]
    hit = ProfileHit(id=doc["_id"], name=_name(doc), identifiers=identifiers)
    if caller.sees_pii:
        return hit
    return hit.model_copy(
        update={
            "name": None if hit.name is None else " ".join(mask_text(p) for p in hit.name.split()),
            "identifiers": [
                i.model_copy(update={"value": mask_identifier(i.type, i.value)}) for i in hit.identifiers
            ],
        }
    )


def _name(doc: dict[str, Any]) -> str | None:
    for fields in doc.get("traits", {}).values():
        if "first_name" in fields and "last_name" in fields:
            return f"{fields['first_name']['value']} {fields['last_name']['value']}"
    return None


def _event(doc: dict[str, Any], caller: Principal) -> EventOut:
    event = EventOut.from_document(doc)
    if caller.sees_pii:
        return event
    identifiers = [
        {**i, "value": mask_identifier(i["type"], i["value"])} if i["type"] in PERSONAL_IDENTIFIERS else i
        for i in event.identifiers
    ]
    attributes = {k: mask_text(v) if k in PERSONAL_TRAITS else v for k, v in event.attributes.items()}
    return event.model_copy(update={"identifiers": identifiers, "attributes": attributes})


def _encode_cursor(at: datetime, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{event_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), event_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(404, "no page at this cursor: it is not one this API returned") from None


def _live(reader: ProfileReader, profile_id: str) -> dict[str, Any]:
    return _found(reader.get(profile_id), profile_id)


def _found(doc: dict[str, Any] | None, profile_id: str) -> dict[str, Any]:
    if doc is None:
        raise HTTPException(404, f"profile {profile_id} not found")
    return doc
