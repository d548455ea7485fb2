"""Real-time membership, pure: a profile's segments as of now, what changed since the stored membership,
and the one conditional update that records both on the profile.

The state lives on the profile, under `activation`:

    activation: {segments: {<name>: {entered_at, version}},   the real-time segments it is in
                 consent: bool,                               marketing consent when last evaluated
                 next_boundary: time,                         when a window could next change an answer
                                                              (absent: none can without a new event)
                 changes: {version, at, list: [<change>]}}    what the write of `version` changed

A change is `{segment, change: entered|exited|consent, member, consent, was_member, was_consent, values}`:
a marketing consent given or withdrawn while in a segment is a change too, so that a marketing
destination can send the withdrawal as an exit. The update is conditional on the version evaluated and
adds one to it: a profile written meanwhile is evaluated again from its own change, never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activation.evaluate import fact_value, next_boundary, verdict
from activation.rules import Fact, Node

MARKETING = Fact("consent", "marketing")


@dataclass(frozen=True)
class RealtimeSegment:
    name: str
    rule: Node


@dataclass(frozen=True)
class Evaluation:
    """The new state, the changes against the stored one, and the update (None: nothing to write)."""

    state: dict[str, Any]
    changes: list[dict[str, Any]]
    update: tuple[dict[str, Any], dict[str, Any]] | None


def evaluate(doc: dict[str, Any], segments: list[RealtimeSegment], now: datetime) -> Evaluation:
    old = doc.get("activation") or {}
    old_segments: dict[str, Any] = old.get("segments", {})
    old_consent = bool(old.get("consent", False))
    consent = fact_value(MARKETING, doc, now) is True
    version = doc.get("version", 0)
    members: dict[str, Any] = {}
    values: dict[str, dict[str, Any]] = {}
    boundaries = []
    for segment in segments:
        result = verdict(segment.rule, doc, now)
        values[segment.name] = result.decided_by()
        if result.member:
            members[segment.name] = old_segments.get(segment.name) or {
                "entered_at": now,
                "version": version + 1,
            }
        boundary = next_boundary(segment.rule, doc, now)
        if boundary is not None:
            boundaries.append(boundary)
    changes = []
    for name in sorted(set(old_segments) | set(members)):
        was, now_in = name in old_segments, name in members
        if was == now_in and not (now_in and consent != old_consent):
            continue
        kind = "entered" if now_in and not was else "exited" if was and not now_in else "consent"
        changes.append(
            {
                "segment": name,
                "change": kind,
                "member": now_in,
                "consent": consent,
                "was_member": was,
                "was_consent": old_consent,
                "values": values.get(name, {}),
            }
        )
    state: dict[str, Any] = {"segments": members, "consent": consent}
    if boundaries:
        state["next_boundary"] = min(boundaries)
    same = members.keys() == old_segments.keys() and consent == old_consent
    if same and state.get("next_boundary") == old.get("next_boundary"):
        return Evaluation(state, [], None)
    recorded = {**state, "changes": {"version": version + 1, "at": now, "list": changes}}
    update = (
        {"_id": doc["_id"], "version": version},
        {"$set": {"activation": recorded}, "$inc": {"version": 1}},
    )
    return Evaluation(state, changes, update)


def due_filter(now: datetime) -> dict[str, Any]:
    """Live profiles whose next window boundary has passed (the sweeper's query, on its own index)."""
    return {"activation.next_boundary": {"$lte": now}}
