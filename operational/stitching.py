"""Deterministic identity stitching for one batch, pure: which profile each event lands on.

Events that share an identifier (directly or through other events of the batch, or through the known
identity graph) form one component and land on one profile. A component touching several existing
profiles merges them; the oldest (earliest first_seen, then smallest id) survives, so the outcome does
not depend on arrival order. This is the seam that full identity resolution replaces: it sees only
identity keys, the known key -> profile map, and the profiles' ages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.events import CanonicalEvent

MAX_EVIDENCE = 20
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class Component:
    """Events of a batch that must land on one profile, and what they touch."""

    events: list[CanonicalEvent] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)
    evidence: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Placement:
    """The profile a component lands on, the profiles merged into it and the keys it adds."""

    profile_id: str
    merged: tuple[str, ...]
    new_keys: tuple[str, ...]
    component: Component


def new_profile_id(key: str) -> str:
    """Deterministic, so that a replay of the same events names the same profiles."""
    return "p" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def group(events: Iterable[CanonicalEvent], known: Mapping[str, str]) -> list[Component]:
    """Union-find over identity keys and known profile ids; one component per connected set."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    joins: list[tuple[str, CanonicalEvent]] = []
    batch = list(events)
    for event in batch:
        keys = [ident.key for ident in event.identifiers]
        nodes = keys + [f"\x00{known[key]}" for key in keys if key in known]
        root = find(nodes[0])
        joined = False
        for node in nodes[1:]:
            other = find(node)
            if other != root:
                parent[other] = root
                joined = True
        if joined:
            joins.append((root, event))

    components: dict[str, Component] = {}
    for event in batch:
        comp = components.setdefault(find(event.identifiers[0].key), Component())
        comp.events.append(event)
        for ident in event.identifiers:
            comp.keys.add(ident.key)
            if ident.key in known:
                comp.profiles.add(known[ident.key])
    for root, event in joins:
        comp = components[find(root)]
        if len(comp.evidence) < MAX_EVIDENCE:
            comp.evidence.append(
                {"event_id": event.event_id, "identifiers": [i.key for i in event.identifiers]}
            )
    return list(components.values())


def place(component: Component, known: Mapping[str, str], first_seen: Mapping[str, datetime]) -> Placement:
    """Pick the surviving profile: the oldest existing one, or a new id from the smallest key."""
    new_keys = tuple(sorted(k for k in component.keys if k not in known))
    if not component.profiles:
        return Placement(new_profile_id(min(component.keys)), (), new_keys, component)
    ordered = sorted(component.profiles, key=lambda pid: (first_seen.get(pid) or _NEVER, pid))
    return Placement(ordered[0], tuple(ordered[1:]), new_keys, component)
