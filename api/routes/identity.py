"""Identity endpoints: explain a profile's identity graph, merge and split profiles, and work the review
queue of grey-zone matches. Every route needs a writer or admin API key (identity stewards: the graph
shows every identifier); every write records its actor (`ActorDep`: the key's name, and the person of
`X-C360-Actor` beside it) in an identity event with its evidence. The editor comes from app state, built
by the composition root with the configured identity rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api.deps import ActorDep, EditorDep, ReviewsDep, StoreDep, require
from api.errors import responses
from api.identity_schemas import (
    IdentityChangeOut,
    IdentityEventOut,
    IdentityGraphOut,
    MergeIn,
    ReviewOut,
    SplitIn,
)
from api.routes.profiles import ProfileId
from operational.identity_graph import identity_graph
from operational.identity_ops import IdentityChange, IdentityConflict

# The identity graph shows every identifier and the evidence of every merge: identity stewards only.
router = APIRouter(
    tags=["identity"], dependencies=[Depends(require("writer"))], responses=responses(401, 403)
)
CHANGE_ERRORS = responses(404, 409, e404="A profile or review item named does not exist")


def _links(**links: tuple[str, dict[str, str], dict[str, str] | None]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links from a 200 response to the operations its body names ids for: what a client does
    next, and what lets schemathesis chain merges, splits and reviews in its stateful phase."""
    declared = {}
    for name, (operation, parameters, body) in links.items():
        declared[name] = {"operationId": operation, "parameters": parameters}
        if body is not None:
            declared[name]["requestBody"] = body
    return {200: {"description": "Successful Response", "links": declared}}


UNDO = _links(
    UndoBySplit=(
        "split",
        {"profile_id": "$response.body#/survivor"},
        {"merged": "$response.body#/merged", "reason": "undo"},
    ),
    ReadSurvivor=("get_profile", {"profile_id": "$response.body#/survivor"}, None),
    ReadMerged=("get_profile", {"profile_id": "$response.body#/merged"}, None),
)
REDO = _links(
    RedoByMerge=(
        "merge",
        {"profile_id": "$response.body#/survivor"},
        {"other": "$response.body#/merged", "reason": "redo"},
    ),
    ReadSurvivor=("get_profile", {"profile_id": "$response.body#/survivor"}, None),
    ReadSplitOff=("get_profile", {"profile_id": "$response.body#/merged"}, None),
    ExplainSplitOff=("explain", {"profile_id": "$response.body#/merged"}, None),
)
QUEUE = _links(
    Accept=("accept", {"review_id": "$response.body#/0/id"}, None),
    Reject=("reject", {"review_id": "$response.body#/0/id"}, None),
    MergeByHand=(
        "merge",
        {"profile_id": "$response.body#/0/candidate_profile"},
        {"other": "$response.body#/0/profile_id", "reason": "by hand"},
    ),
    ReadCandidate=("get_profile", {"profile_id": "$response.body#/0/candidate_profile"}, None),
)
ReviewId = Annotated[str, Path(pattern=r"^review:[\w.:-]{1,200}$", description="A review item id")]


@router.get(
    "/profiles/{profile_id}/identity",
    response_model=IdentityGraphOut,
    summary="Explain a profile",
    responses=responses(404),
    operation_id="explain",
)
def explain(store: StoreDep, profile_id: ProfileId) -> IdentityGraphOut:
    graph = identity_graph(store, profile_id)
    if graph is None:
        raise HTTPException(404, f"profile {profile_id} not found")
    return IdentityGraphOut(
        **{k: graph[k] for k in ("profile_id", "requested_id", "merged_from", "identifiers")},
        history=[IdentityEventOut.from_document(d) for d in graph["history"]],
        pending_reviews=[ReviewOut.from_document(d) for d in graph["pending_reviews"]],
    )


@router.post(
    "/profiles/{profile_id}/merge",
    response_model=IdentityChangeOut,
    summary="Merge another profile in",
    responses=CHANGE_ERRORS | responses(400, 413) | UNDO,
    operation_id="merge",
)
def merge(editor: EditorDep, actor: ActorDep, profile_id: ProfileId, body: MergeIn) -> IdentityChangeOut:
    evidence = {"rule": "manual merge", "reason": body.reason} | actor.evidence()
    return _out(_change(lambda: editor.merge(profile_id, body.other, evidence)))


@router.post(
    "/profiles/{profile_id}/split",
    response_model=IdentityChangeOut,
    summary="Undo a merge",
    responses=CHANGE_ERRORS | responses(400, 413) | REDO,
    operation_id="split",
)
def split(editor: EditorDep, actor: ActorDep, profile_id: ProfileId, body: SplitIn) -> IdentityChangeOut:
    evidence = {"rule": "manual split", "reason": body.reason} | actor.evidence()
    return _out(_change(lambda: editor.split(profile_id, body.merged, evidence)))


@router.get(
    "/identity/reviews",
    response_model=list[ReviewOut],
    summary="Grey-zone matches for a person",
    responses=QUEUE,
    operation_id="reviews",
)
def reviews(
    queue: ReviewsDep,
    status: Annotated[str, Query(pattern="^(pending|accepted|rejected)$")] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ReviewOut]:
    return [ReviewOut.from_document(d) for d in queue.list(status, limit=limit)]


@router.post(
    "/identity/reviews/{review_id}/accept",
    response_model=IdentityChangeOut,
    summary="Merge them",
    responses=CHANGE_ERRORS | UNDO,
    operation_id="accept",
)
def accept(queue: ReviewsDep, editor: EditorDep, actor: ActorDep, review_id: ReviewId) -> IdentityChangeOut:
    return _out(_change(lambda: queue.accept(review_id, editor, actor.evidence())))


@router.post(
    "/identity/reviews/{review_id}/reject",
    status_code=204,
    summary="Keep them apart",
    responses=CHANGE_ERRORS,
    operation_id="reject",
)
def reject(queue: ReviewsDep, actor: ActorDep, review_id: ReviewId) -> None:
    _change(lambda: queue.reject(review_id, actor.evidence()))


T = TypeVar("T")


def _change(work: Callable[[], T]) -> T:
    """Domain refusals become 404 (an unknown profile or review) and 409 (does not fit the graph)."""
    try:
        return work()
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except IdentityConflict as exc:
        raise HTTPException(409, str(exc)) from None


def _out(change: IdentityChange) -> IdentityChangeOut:
    return IdentityChangeOut(**vars(change))
