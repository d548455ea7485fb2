"""The API's error bodies and their OpenAPI declarations, in one place so that every route answers what
its contract says: `{"detail": "<message>"}` for 4xx refusals, FastAPI's `HTTPValidationError` shape
(`{"detail": [{"loc", "msg", "type"}]}`) for every 422, ours included."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel


class ErrorOut(BaseModel):
    detail: str


_WHY = {
    304: "Not modified since the ETag sent in If-None-Match",
    400: "The body could not be read",
    401: "Missing or unknown X-API-Key",
    403: "The key's role is too small for this",
    404: "Not found",
    409: "Conflicts with the current identity graph",
    413: "The request body exceeds api.max_body_bytes",
    422: "Validation error",
    503: "A dependency this needs is not available",
}


def responses(*codes: int, **why: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses: ErrorOut bodies (304 has none); `why` overrides the text,
    keyed `e404=...`."""
    declared: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        text = why.get(f"e{code}", _WHY[code])
        if code == 304:
            declared[code] = {"description": text}
        elif code == 422:  # FastAPI's own schema of request validation errors, which ours follow
            declared[code] = {"description": text, "content": {"application/json": {"schema": _VALIDATION}}}
        else:
            declared[code] = {"model": ErrorOut, "description": text}
    return declared


_VALIDATION = {"$ref": "#/components/schemas/HTTPValidationError"}


def unprocessable(loc: Sequence[str | int], message: str, kind: str) -> HTTPException:
    """A 422 shaped as request validation errors are, so one schema describes every 422."""
    return HTTPException(422, [{"loc": list(loc), "msg": message, "type": kind}])
