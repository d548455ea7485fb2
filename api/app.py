"""The API's app factory: routes get the store from app state, never from globals."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.routes import health, identity, metrics, profiles
from operational.store import Store


def create_app(store: Store) -> FastAPI:
    app = FastAPI(
        title="c360",
        summary="Real-time customer profiles stitched from every source",
        version="0.1.0",
    )
    app.state.store = store
    app.include_router(health.router)
    app.include_router(profiles.router)
    app.include_router(identity.router)
    app.include_router(metrics.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable message per problem, and no echo of the raw input."""
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": problems})
