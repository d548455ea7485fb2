"""What each MongoDB change becomes on the outbound topics, pure: one change in, the records out.
Topics are `activation.topic_prefix` (default `c360.`) and the stream's name.

    c360.profiles         compacted, key = profile id. {type: profile, profile_id, version, profile}
                          (`Render`: the body GET /profiles/{id} serves); a merged-away profile
                          gets {type: merged, profile_id, merged_into}; an erased one gets
                          {type: erased, profile_id} and then a tombstone (a null value).
    c360.segment_changes  key = profile id. {segment, change: entered|exited|consent, profile_id,
                          version, at, member, consent, was_member, was_consent, values}; and
                          {change: merged_away, profile_id, survivor} / {change: erased, profile_id}.
    c360.identity_changes key = survivor. {change_id, kind: merge|split|move, survivor, merged|from, at}:
                          profile ids only, never the identifier that moved or the evidence.

Every record carries the header `idempotency-key`: the profile id and version (with the segment for a
segment change), or the identity event's id. A record delivered twice carries the same key, so a
consumer drops duplicates by it. Records of one profile share a key, hence a partition: they stay in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic_core

from sync.convert import change_time

PROFILES, SEGMENT_CHANGES, IDENTITY_CHANGES = "profiles", "segment_changes", "identity_changes"
STREAMS = (PROFILES, SEGMENT_CHANGES, IDENTITY_CHANGES)
COMPACTED = (PROFILES,)
IDEMPOTENCY_HEADER = "idempotency-key"
# A stored profile as of a time -> the body a record carries (the composition root gives the API's own).
Render = Callable[[dict[str, Any], datetime], dict[str, Any]]


def topic_names(prefix: str) -> dict[str, str]:
    """Each stream's topic: `c360.profiles` and so on with the default prefix."""
    return {stream: f"{prefix}{stream}" for stream in STREAMS}


@dataclass(frozen=True)
class Outbound:
    stream: str
    key: str
    value: dict[str, Any] | None  # None: a tombstone
    idempotency_key: str

    def value_bytes(self) -> bytes | None:
        return None if self.value is None else pydantic_core.to_json(self.value)


def profile_messages(change: dict[str, Any], render: Render) -> list[Outbound]:
    """The records of one change of the `profiles` collection (its post-image in fullDocument). The view
    is as of the change (its wallTime): a record sent twice is the same bytes. Every version is sent: a
    version folded into a later one could, after a crash, first reach a consumer after that later one,
    which deduplicating by key would then keep as the newest."""
    pid = str(change.get("documentKey", {}).get("_id"))
    if change.get("operationType") == "delete":  # only the eraser deletes profiles
        notice = {"type": "erased", "profile_id": pid}
        return [
            Outbound(PROFILES, pid, notice, f"{pid}:erased"),
            Outbound(PROFILES, pid, None, f"{pid}:erased"),
            Outbound(SEGMENT_CHANGES, pid, {"change": "erased", "profile_id": pid}, f"{pid}:erased"),
        ]
    doc = change.get("fullDocument")
    if doc is None:
        return []
    if "merged_into" in doc:
        survivor = doc["merged_into"]
        key = f"{pid}:merged:{survivor}"
        merged = {
            "type": "merged",
            "profile_id": pid,
            "merged_into": survivor,
            "merged_at": doc.get("merged_at"),
        }
        away = {"change": "merged_away", "profile_id": pid, "survivor": survivor}
        return [Outbound(PROFILES, pid, merged, key), Outbound(SEGMENT_CHANGES, pid, away, key)]
    version = doc.get("version", 0)
    body = render(doc, change_time(change) or datetime.now(UTC))
    value = {"type": "profile", "profile_id": pid, "version": version, "profile": body}
    out = [Outbound(PROFILES, pid, value, f"{pid}:{version}")]
    recorded = (doc.get("activation") or {}).get("changes") or {}
    if recorded.get("version") == version:
        for c in recorded.get("list", []):
            value = {**c, "profile_id": pid, "version": version, "at": recorded.get("at")}
            out.append(Outbound(SEGMENT_CHANGES, pid, value, f"{pid}:{version}:{c['segment']}"))
    return out


def identity_messages(change: dict[str, Any]) -> list[Outbound]:
    """The record of a new identity event (merge, split, move); its deletion (an erasure) sends none."""
    doc = change.get("fullDocument")
    if change.get("operationType") != "insert" or doc is None:
        return []
    value = {
        "change_id": doc["_id"],
        "kind": doc.get("kind"),
        "survivor": doc.get("survivor"),
        "at": doc.get("at"),
        **{name: doc[name] for name in ("merged", "from") if name in doc},
    }
    return [Outbound(IDENTITY_CHANGES, str(doc.get("survivor")), value, str(doc["_id"]))]
