"""Event ingest for webhook sources: POST the source's own JSON to /ingest/webhooks/{topic}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from api.deps import WebhooksDep, WriterRole
from api.schemas import IngestAccepted
from ingest.records import DeadLetter

router = APIRouter(prefix="/ingest", tags=["ingest"])
Topic = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,100}$", description="A topic of the mapping file")]


@router.post(
    "/webhooks/{topic}",
    response_model=IngestAccepted,
    status_code=202,
    summary="Map a webhook body like a Kafka record of `topic`, and apply it",
    responses={422: {"description": "Bad body: dead-lettered with its reason"}},
)
async def webhook(
    topic: Topic, request: Request, webhooks: WebhooksDep, caller: WriterRole
) -> IngestAccepted:
    if not webhooks.accepts(topic):
        raise HTTPException(404, f"no source mapping for topic {topic!r}")
    body = await request.body()
    outcome = webhooks.ingest(topic, body)
    if isinstance(outcome, DeadLetter):
        raise HTTPException(422, f"{outcome.reason} at {outcome.field}: {outcome.message}")
    event, result = outcome
    return IngestAccepted(event_id=event.event_id, applied=result.applied == 1)
