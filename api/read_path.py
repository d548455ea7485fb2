"""GET /profiles/{id} and GET /profiles/lookup served without FastAPI's router and dependency solving.

They are the hot path (a call-center screen, an offer or fraud check at 1,000 requests/s), and on
FastAPI 0.165 matching through the included routers and solving the dependencies cost ~150 µs of CPU
per request, as much as decoding the profile. The routes stay declared in api/routes/profiles.py, for the
OpenAPI schema and because their endpoint functions do the work here too: the key goes through the same
`authorize`, the parameters are validated by pydantic against the routes' own annotated types (so a 422
reads as FastAPI's would), and errors go to the app's own exception handlers.
tests/integration/test_read_path.py checks each outcome against FastAPI serving the same routes.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from typing_extensions import TypedDict

from api.deps import ProfileRead, authorize, profile_read
from api.routes import profiles


class _LookupQuery(TypedDict):
    type: profiles.LookupType
    value: profiles.LookupValue


_PROFILE_ID: TypeAdapter[str] = TypeAdapter(profiles.ProfileId)
_LOOKUP: TypeAdapter[_LookupQuery] = TypeAdapter(_LookupQuery)
_LOOKUP_PARAMS = tuple(_LookupQuery.__annotations__)


class ProfileReadPath:
    """ASGI middleware answering the two profile reads itself; every other request passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        routes = {r.endpoint: r for r in profiles.router.routes if isinstance(r, APIRoute)}
        self._get, self._lookup = routes[profiles.get_profile], routes[profiles.lookup]
        # Fixed paths declared before /profiles/{profile_id} (search, lookup) win over it, as in the router.
        self._fixed = {r.path for r in routes.values() if "{" not in r.path}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, serve = found
        scope["route"] = route  # the latency histogram's label, as FastAPI's router would set it
        request = Request(scope, receive)
        handlers = request.app.exception_handlers
        try:
            response = await serve(request)
        except HTTPException as exc:
            response = await handlers[HTTPException](request, exc)
        except RequestValidationError as exc:
            response = await handlers[RequestValidationError](request, exc)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[APIRoute, Callable[[Request], Awaitable[Response]]] | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        path = scope["path"]
        if path == self._lookup.path:
            return self._lookup, _lookup
        if path in self._fixed or not (match := self._get.path_regex.match(path)):
            return None
        return self._get, functools.partial(_get, profile_id=match["profile_id"])


async def _get(request: Request, profile_id: str) -> Response:
    read = _read(request)
    profile_id = _validated(_PROFILE_ID, profile_id, ("path", "profile_id"))
    tag = request.headers.get("if-none-match")
    return await profiles.get_profile(read, profile_id, tag)


async def _lookup(request: Request) -> Response:
    read = _read(request)
    params = request.query_params
    query = _validated(_LOOKUP, {k: params[k] for k in _LOOKUP_PARAMS if k in params}, ("query",))
    tag = request.headers.get("if-none-match")
    return await profiles.lookup(read, query["type"], query["value"], tag)


def _read(request: Request) -> ProfileRead:
    """Checked before the parameters, as FastAPI solves dependencies first: a bad key is a 401, not a 422."""
    state = request.app.state
    return profile_read(state, authorize(state.keys, request.headers.get("x-api-key"), "reader"))


def _validated(adapter: TypeAdapter[Any], value: object, loc: tuple[str, ...]) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        errors = [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
