"""Liveness and readiness: ready means MongoDB answers and at least one ingest worker is beating."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from api.deps import StoreDep, WorkersDep
from api.schemas import Readiness
from operational.port import StoreError

router = APIRouter(tags=["health"])
WORKER_MAX_SILENCE = timedelta(seconds=15)


@router.get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    """On the event loop, not in the thread pool: it answers while every pool thread is busy."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Readiness,
    summary="MongoDB reachable and an ingest worker alive",
    responses={503: {"model": Readiness, "description": "Not ready: MongoDB or every ingest worker silent"}},
)
def ready(store: StoreDep, workers: WorkersDep, response: Response) -> Readiness:
    try:
        store.db.command("ping")
        live = workers.alive(WORKER_MAX_SILENCE)
    except StoreError as exc:
        response.status_code = 503
        return Readiness(
            ready=False,
            mongo=f"unreachable: {type(exc).__name__}",
            ingest_workers=0,
            detail="MongoDB did not answer",
        )
    ok = bool(live)
    if not ok:
        response.status_code = 503
    detail = "ok" if ok else f"no ingest worker has reported in the last {WORKER_MAX_SILENCE.seconds}s"
    return Readiness(ready=ok, mongo="ok", ingest_workers=len(live), detail=detail)
