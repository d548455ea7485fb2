"""Event ingest for webhook sources: POST the source's own JSON to /ingest/webhooks/{topic}.

The body arrives bounded (api/body_limit.py: 413 past api.max_body_bytes); mapping it, the MongoDB
transaction and the dead letter's acknowledgement run on pool threads, never on the event loop, and on
at most `ApiServices.ingest_threads` of them at once (each competes with the loop for the GIL).
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Path, Request
from kafka.errors import KafkaError

from api.deps import WebhooksDep, WriterRole
from api.errors import responses, unprocessable
from api.schemas import IngestAccepted
from api.webhooks import StoreUnavailable
from ingest.records import DeadLetter

router = APIRouter(prefix="/ingest", tags=["ingest"])
Topic = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,100}$", description="A topic of the mapping file")]


@router.post(
    "/webhooks/{topic}",
    response_model=IngestAccepted,
    status_code=202,
    summary="Map a webhook body like a Kafka record of `topic`, and apply it",
    responses=responses(
        400,
        401,
        403,
        404,
        413,
        422,
        503,
        e404="No source mapping for this topic",
        e422="Bad body, dead-lettered: `loc` names the field, `type` the reason",
        e503="No ingest in this API process, or MongoDB or the dead-letter topic unavailable: retry",
    ),
)
async def webhook(
    topic: Topic, request: Request, webhooks: WebhooksDep, caller: WriterRole
) -> IngestAccepted:
    if not webhooks.accepts(topic):
        raise HTTPException(404, f"no source mapping for topic {topic!r}")
    body = await request.body()
    try:
        limiter = request.app.state.ingest_limiter
        outcome = await anyio.to_thread.run_sync(webhooks.ingest, topic, body, limiter=limiter)
    except (StoreUnavailable, KafkaError) as exc:
        raise HTTPException(503, f"not applied, retry: {exc}"[:300]) from None
    if isinstance(outcome, DeadLetter):
        loc = ["body"] if outcome.field == "$" else ["body", *outcome.field.split(".")]
        raise unprocessable(loc, outcome.message, outcome.reason)
    event, result = outcome
    return IngestAccepted(event_id=event.event_id, applied=result.applied == 1)
