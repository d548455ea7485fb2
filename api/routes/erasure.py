"""Erasing a person everywhere (operational/erasure.py): admin keys only, since it cannot be undone.
The caller (the key's name, and the person of `X-C360-Actor` beside it) and the reason are kept in the
erasure record. The eraser comes from app state, built with the configured identity rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.deps import ActorDep, EraserDep, require
from api.errors import responses
from api.identity_schemas import ErasureOut
from api.routes.profiles import ProfileId
from operational.erasure import PersonNotFound

router = APIRouter(tags=["erasure"], dependencies=[Depends(require("admin"))], responses=responses(401, 403))
Reason = Annotated[
    str, Query(min_length=1, max_length=500, description="Why, e.g. the data subject's request number")
]


@router.delete(
    "/profiles/{profile_id}",
    response_model=ErasureOut,
    summary="Erase a person everywhere",
    responses=responses(404),
)
def erase(eraser: EraserDep, actor: ActorDep, profile_id: ProfileId, reason: Reason) -> ErasureOut:
    """The person's profile, merged profiles, identifiers, events, CDC rows, identity history, match
    records and review items leave MongoDB (one transaction detaches them, then their events go in
    chunks); their identifiers' later events are dropped; the lake sync deletes their rows from every
    Delta table."""
    try:
        erasure = eraser.erase(profile_id, actor.key, reason, on_behalf_of=actor.on_behalf_of)
    except PersonNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return ErasureOut(**vars(erasure))
