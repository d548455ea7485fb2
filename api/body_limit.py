"""Request bodies are bounded while they are read, before anything parses them: 413 past the limit.

A declared Content-Length over the limit is refused before a byte of the body is read; a body sent
without one (chunked) is counted as it arrives and refused at the first chunk past the limit. So a
50 MB body costs the server the limit at most, and the event loop never holds or parses more.
Plain ASGI, not BaseHTTPMiddleware (a task and a stream per request).
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = JSONResponse(
                {"detail": f"a body of {declared} bytes exceeds the limit of {self.max_bytes}"},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException: FastAPI's body parsing and the routes let it through to the app's
                    # handler, which answers 413 with the usual error body.
                    raise HTTPException(
                        413,
                        f"the body exceeds the limit of {self.max_bytes} bytes",
                        headers={"Connection": "close"},
                    )
            return message

        await self.app(scope, bounded, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
