"""The API's app factory: routes get the store, keys, clock and ingest from app state, never from globals."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import KeyRing
from api.body_limit import BodyLimit
from api.read_path import ProfileReadPath
from api.routes import erasure, health, identity, ingest, metrics, page, profiles
from api.routes.page import STATIC
from api.webhooks import WebhookIngest
from identity.rules import IdentityRules
from operational.async_reads import AsyncProfileReader
from operational.erasure import Eraser
from operational.identity_ops import IdentityEditor
from operational.port import CommandRefused
from operational.reviews import ReviewQueue
from operational.store import UNAUTHORIZED, Store
from profiles.offers import OfferRules, load_offer_rules

REQUEST_SECONDS = Histogram(
    "c360_api_request_seconds",
    "API request latency by route template",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)


DEFAULT_MAX_BODY_BYTES = 1_000_000


@dataclass
class ApiServices:
    """What the API needs besides the store; the defaults are a development setup (open, no ingest, the
    shipped identity rules). The composition root (c360/bootstrap.py) builds the identity editor and the
    eraser with the configured rules; without them, `create_app` builds them with the shipped ones."""

    keys: KeyRing = field(default_factory=lambda: KeyRing(()))
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    offer_rules: OfferRules = field(default_factory=load_offer_rules)
    webhooks: WebhookIngest | None = None
    identity_editor: IdentityEditor | None = None
    eraser: Eraser | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Webhook bodies mapped and written at once, each on a pool thread: every such thread competes with
    # the event loop for the GIL, so a burst of large bodies must not get one thread each.
    ingest_threads: int = 1


def create_app(store: Store, services: ApiServices | None = None) -> FastAPI:
    """`store` must know its URI (`Store.open`): the hot reads open an asyncio client to it, on the
    serving loop, while the app runs (use `with TestClient(app)` in tests, so the lifespan runs)."""
    uri = store.uri
    if uri is None:
        raise ValueError("the API needs a store opened from a URI (Store.open), for its asyncio reads")
    services = services or ApiServices()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.openapi()  # built now, not by the first /openapi.json request on the event loop
        app.state.ingest_limiter = anyio.CapacityLimiter(services.ingest_threads)
        app.state.profile_reads = AsyncProfileReader.open(uri, store.db.name)
        try:
            yield
        finally:
            await app.state.profile_reads.close()

    app = FastAPI(
        title="c360",
        summary="Real-time customer profiles stitched from every source",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.keys = services.keys
    app.state.clock = services.clock
    app.state.offer_rules = services.offer_rules
    app.state.webhooks = services.webhooks
    rules = IdentityRules.from_settings()
    app.state.identity_editor = services.identity_editor or IdentityEditor(store, rules)
    app.state.eraser = services.eraser or Eraser(store, rules)
    app.state.reviews = ReviewQueue(store)
    app.include_router(health.router)
    app.include_router(profiles.router)
    app.include_router(ingest.router)
    app.include_router(identity.router)
    app.include_router(erasure.router)
    app.include_router(metrics.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CommandRefused, _refused_by_mongodb)
    app.add_middleware(ProfileReadPath)  # inside TimedRequests: the fast reads are timed too
    app.add_middleware(BodyLimit, max_bytes=services.max_body_bytes)
    app.add_middleware(TimedRequests)
    return app


class TimedRequests:
    """Latency per route template (not per raw path: profile ids would explode the label set).

    Plain ASGI, not BaseHTTPMiddleware: that one costs a task and a stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], route, str(status)).observe(time.perf_counter() - start)


async def _refused_by_mongodb(request: Request, exc: Exception) -> JSONResponse:
    """403 when MongoDB refuses this process's user (a read-only API user asked to write); any other
    failure stays a server error."""
    assert isinstance(exc, CommandRefused)
    if exc.code != UNAUTHORIZED:
        raise exc
    detail = (
        "this API's MongoDB user may not do this: the c360_api role only reads; write endpoints need an "
        "API whose user also has the c360_jobs role (docs/SECURITY.md)"
    )
    return JSONResponse(status_code=403, content={"detail": detail})


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 in the declared HTTPValidationError shape (loc, msg, type), without echoing the raw input."""
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": problems})
