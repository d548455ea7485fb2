"""Erasing a person everywhere (operational/erasure.py): admin keys only, since it cannot be undone.
The caller (the key's name, or `X-C360-Actor`) and the reason are kept in the erasure record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.deps import ActorDep, StoreDep, require
from api.identity_schemas import ErasureOut
from api.routes.profiles import ProfileId
from operational.erasure import Eraser, PersonNotFound

router = APIRouter(tags=["erasure"], dependencies=[Depends(require("admin"))])
Reason = Annotated[
    str, Query(min_length=1, max_length=500, description="Why, e.g. the data subject's request number")
]


@router.delete("/profiles/{profile_id}", response_model=ErasureOut, summary="Erase a person everywhere")
def erase(store: StoreDep, actor: ActorDep, profile_id: ProfileId, reason: Reason) -> ErasureOut:
    """The person's profile, merged profiles, identifiers, events, CDC rows, identity history, match
    records and review items leave MongoDB (one transaction detaches them, then their events go in
    chunks); their identifiers' later events are dropped; the lake sync deletes their rows from every
    Delta table."""
    try:
        erasure = Eraser(store).erase(profile_id, requested_by=actor, reason=reason)
    except PersonNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return ErasureOut(**vars(erasure))
