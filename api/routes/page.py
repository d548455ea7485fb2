"""The call-center customer 360 page: static HTML, CSS and a little JS that call this API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/customer360")


@router.get("/customer360")
def page() -> FileResponse:
    return FileResponse(STATIC / "customer360.html", headers={"Cache-Control": "no-cache"})
