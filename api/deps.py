"""Dependencies read from app state, so routes read as typed parameters.

They are `async def` because none of them blocks: FastAPI runs a plain `def` dependency in the thread
pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import APIKeyHeader
from starlette.datastructures import State

from api.auth import KeyRing, Principal, Role
from api.webhooks import WebhookIngest
from operational.async_reads import AsyncProfileReader
from operational.erasure import Eraser
from operational.identity_ops import IdentityEditor
from operational.reads import ProfileReader
from operational.reviews import ReviewQueue
from operational.store import Store
from operational.workers import WorkerRegistry
from profiles.offers import OfferRules

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A key from api.keys")


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _reader(request: Request) -> ProfileReader:
    return ProfileReader(request.app.state.store)


async def _workers(request: Request) -> WorkerRegistry:
    return WorkerRegistry(request.app.state.store)


async def _webhooks(request: Request) -> WebhookIngest:
    webhooks: WebhookIngest | None = request.app.state.webhooks
    if webhooks is None:
        raise HTTPException(503, "this API process has no ingest configured")
    return webhooks


async def _editor(request: Request) -> IdentityEditor:
    return request.app.state.identity_editor


async def _reviews(request: Request) -> ReviewQueue:
    return request.app.state.reviews


async def _eraser(request: Request) -> Eraser:
    return request.app.state.eraser


def authorize(keys: KeyRing, key: str | None, role: Role) -> Principal:
    """Who holds `key`: 401 for a missing or unknown key, 403 below `role`."""
    principal = keys.identify(key)
    if principal is None:
        detail = "missing X-API-Key header" if not key else "unknown API key"
        raise HTTPException(401, detail, headers={"WWW-Authenticate": "X-API-Key"})
    if not principal.allows(role):
        raise HTTPException(403, f"this needs the {role} role; key {principal.name!r} is {principal.role}")
    return principal


def require(role: Role) -> Callable[[Request, str | None], Awaitable[Principal]]:
    """A dependency admitting callers of `role` or above."""

    async def check(request: Request, key: Annotated[str | None, Depends(_api_key)]) -> Principal:
        return authorize(request.app.state.keys, key, role)

    return check


StoreDep = Annotated[Store, Depends(_store)]
ReaderDep = Annotated[ProfileReader, Depends(_reader)]
WorkersDep = Annotated[WorkerRegistry, Depends(_workers)]
WebhooksDep = Annotated[WebhookIngest, Depends(_webhooks)]
EditorDep = Annotated[IdentityEditor, Depends(_editor)]
ReviewsDep = Annotated[ReviewQueue, Depends(_reviews)]
EraserDep = Annotated[Eraser, Depends(_eraser)]
ReaderRole = Annotated[Principal, Depends(require("reader"))]
WriterRole = Annotated[Principal, Depends(require("writer"))]


@dataclass(frozen=True)
class ProfileRead:
    """What a full-profile read needs, as one dependency: FastAPI spends time on each one per request."""

    reader: AsyncProfileReader
    caller: Principal
    now: datetime
    rules: OfferRules


def profile_read(state: State, principal: Principal) -> ProfileRead:
    clock: Callable[[], datetime] = state.clock
    return ProfileRead(state.profile_reads, principal, clock(), state.offer_rules)


async def _profile_read(request: Request, principal: ReaderRole) -> ProfileRead:
    return profile_read(request.app.state, principal)


ProfileReadDep = Annotated[ProfileRead, Depends(_profile_read)]


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for its audit trail: the authenticated key's name always, and beside it the
    person the caller says it acts for (`X-C360-Actor`), which the key cannot make the record forget."""

    key: str
    on_behalf_of: str | None = None

    def evidence(self) -> dict[str, str]:
        return {"actor": self.key} | ({"on_behalf_of": self.on_behalf_of} if self.on_behalf_of else {})


async def _actor(
    caller: WriterRole,
    x_c360_actor: Annotated[
        str | None, Header(max_length=100, description="The person this key acts for, kept in the audit")
    ] = None,
) -> Actor:
    return Actor(caller.name, x_c360_actor or None)


ActorDep = Annotated[Actor, Depends(_actor)]
