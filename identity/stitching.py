"""Deterministic identity stitching for one batch, pure: which profile each event lands on.

Events that share a merge key (identity/rules.py), directly or through other events of the
batch or through the known identity graph, form one component and land on one profile. Attach keys
(cookies, devices, role mailboxes) never join two identified profiles: they place anonymous activity on
the one profile they point to, and fold an anonymous profile into the identified one that logs in on it.
A component touching several profiles merges them, the oldest (earliest first_seen, then smallest id)
surviving, unless that would break a per-type cap (two customer ids): then the profile owning the
batch's capped key keeps it and the weaker contested keys move to it (a reassigned phone).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from identity.rules import IdentityRules
from ingest.events import CanonicalEvent

MAX_EVIDENCE = 20
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Graph:
    """What the store knows about a batch's keys: their owners, and which of them are evidence."""

    known: Mapping[str, str] = field(default_factory=dict)  # key -> profile (attach keys: first owner)
    saturated: frozenset[str] = frozenset()  # attach keys seen on too many profiles: no longer evidence
    # profiles holding a merge key, or activity no one could be credited with: never folded by a cookie
    identified: frozenset[str] = frozenset()
    held: Mapping[str, frozenset[str]] = field(default_factory=dict)  # profile -> its capped keys

    def owner(self, key: str) -> str | None:
        """The profile a key points to (an attach key: the first it was seen on) while it is evidence."""
        return None if key in self.saturated else self.known.get(key)


@dataclass
class Component:
    """Events of a batch that must land on one profile, and what they touch."""

    events: list[CanonicalEvent] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)
    evidence: list[dict[str, object]] = field(default_factory=list)
    strong: bool = False  # holds a merge key
    ambiguous: bool = False  # anonymous activity whose keys point at someone else: credited to no one


@dataclass(frozen=True)
class Placement:
    """The profile a component lands on, the profiles merged into it, the keys it adds, the keys that
    move to it from another profile (key, from), and known attach keys now also seen on it."""

    profile_id: str
    merged: tuple[str, ...]
    new_keys: tuple[str, ...]
    component: Component
    moved: tuple[tuple[str, str], ...] = ()
    attached: tuple[str, ...] = ()
    ambiguous: bool = False  # a new anonymous profile beside a key known elsewhere: not anyone's yet


def new_profile_id(key: str) -> str:
    """Deterministic, so that a replay of the same events names the same profiles."""
    return "p" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


class _Forest:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        parent = self.parent
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, nodes: list[str]) -> bool:
        """Join all nodes; True if two formerly separate sets were joined."""
        root = self.find(nodes[0])
        joined = False
        for node in nodes[1:]:
            other = self.find(node)
            if other != root:
                self.parent[other] = root
                joined = True
        return joined


def _profile_node(pid: str) -> str:
    return f"\x00{pid}"


def group(events: Iterable[CanonicalEvent], graph: Graph, rules: IdentityRules) -> list[Component]:
    """Union-find over merge keys and known profiles; anonymous events follow their attach keys."""
    forest = _Forest()
    batch = list(events)
    anonymous: list[CanonicalEvent] = []
    carriers: dict[str, list[str]] = {}  # attach key -> strong events of the batch carrying it
    profile_nodes: set[str] = set()
    joins: list[tuple[str, CanonicalEvent, str]] = []
    folds: dict[str, list[tuple[str, CanonicalEvent]]] = {}  # anonymous profile -> strong events
    unclaimed: set[str] = set()
    capped: dict[str, frozenset[str]] = {}  # root -> capped keys (customer ids) its events carry
    for event in batch:
        node = f"\x01{event.event_id}"
        strong = [i.key for i in event.identifiers if rules.merges(i)]
        if not strong:
            anonymous.append(event)
            continue
        # Within the batch, a key never joins two events whose capped keys conflict (a recycled phone
        # on the old and the new owner's records): each keeps its own profile.
        mine = frozenset(k for k in strong if rules.capped(k))
        strong = [
            k for k in strong if rules.within_caps(capped.get(forest.find(k), frozenset()) | mine)
        ] or strong
        tag = mine.union(*(capped.get(forest.find(k), frozenset()) for k in strong))
        owners = {o for k in strong if (o := graph.owner(k))}
        profile_nodes |= owners
        if forest.union(strong + [_profile_node(p) for p in sorted(owners)]):
            joins.append((strong[0], event, "shared identifier"))
        forest.union([node, strong[0]])
        capped[forest.find(node)] = tag
        for key in (i.key for i in event.identifiers if not rules.merges(i)):
            carriers.setdefault(key, []).append(node)
            owner = graph.owner(key)
            if owner and owner not in graph.identified:
                folds.setdefault(owner, []).append((node, event))
    for anon, requests in sorted(folds.items()):  # into the first to log in, like its later activity
        profile_nodes.add(anon)
        if forest.union([requests[0][0], _profile_node(anon)]):
            joins.append((requests[0][0], requests[0][1], "anonymous profile identified"))
    for event in anonymous:
        node = f"\x01{event.event_id}"
        keys = [i.key for i in event.identifiers]
        owners = {o for k in keys if (o := graph.owner(k))}
        firsts = {k: _first_user(k, graph, carriers, forest) for k in keys}
        roots = set(firsts.values())
        mailbox = any(k.startswith("email:") for k in keys)  # a role mailbox: shared by definition
        if len(roots) == 1 and None not in roots and not mailbox:
            profile_nodes |= owners
            forest.union([node, *(r for r in roots if r)])
        else:  # the activity of the device itself, joined only through keys nobody else holds
            own = [k for k, root in firsts.items() if root is None and not k.startswith("email:")]
            forest.union([node, *own])
            if roots - {None} or mailbox:
                unclaimed.add(event.event_id)

    components: dict[str, Component] = {}
    for event in batch:
        comp = components.setdefault(forest.find(f"\x01{event.event_id}"), Component())
        comp.events.append(event)
        comp.keys.update(i.key for i in event.identifiers)
        comp.strong = comp.strong or any(rules.merges(i) for i in event.identifiers)
        comp.ambiguous = comp.ambiguous or event.event_id in unclaimed
    for pid in profile_nodes:
        components[forest.find(_profile_node(pid))].profiles.add(pid)
    for node, event, rule in joins:
        comp = components[forest.find(node)]
        if len(comp.evidence) < MAX_EVIDENCE:
            comp.evidence.append(
                {"event_id": event.event_id, "identifiers": [i.key for i in event.identifiers], "rule": rule}
            )
    return list(components.values())


def _first_user(key: str, graph: Graph, carriers: Mapping[str, list[str]], forest: _Forest) -> str | None:
    """Where anonymous activity on an attach key goes: the profile it was first seen on, or else the
    first event of this batch that identified someone on it, while it is evidence (at most K
    profiles). A device a few people share so credits its first user, never merging anyone."""
    if key in graph.saturated:
        return None
    if owner := graph.known.get(key):
        return forest.find(_profile_node(owner))
    if users := carriers.get(key):
        return forest.find(users[0])
    return None


def place(
    component: Component, graph: Graph, first_seen: Mapping[str, datetime | None], rules: IdentityRules
) -> Placement:
    """Pick the surviving profile and what merges into it, respecting the per-type caps."""
    unknown = sorted(k for k in component.keys if k not in graph.known)
    ordered = sorted(component.profiles, key=lambda pid: (first_seen.get(pid) or _NEVER, pid))
    own_capped = {k for k in component.keys if rules.capped(k)}
    held = {pid: graph.held.get(pid, frozenset()) for pid in ordered}
    if not ordered:
        # An identified profile is named after its merge keys: a cookie it carries may also name a device
        # profile in this very batch.
        strong = [k for k in unknown if rules.merges_key(k)]
        # Activity no one can be credited with, through keys others hold: a bucket of its own, so that
        # two people's unattributable activity never shares one.
        fallback = "shared:" + min(e.event_id for e in component.events)
        seed = strong[0] if strong else unknown[0] if unknown else fallback
        return _placement(new_profile_id(seed), [], [], component, graph, rules, unknown)
    if rules.within_caps(own_capped.union(*held.values())):
        return _placement(ordered[0], ordered[1:], [], component, graph, rules, unknown)
    survivor = _anchor(component, graph, ordered, held, own_capped, rules, unknown)
    keys = set(own_capped) | held.get(survivor, frozenset())
    merged, refused = [], []
    for pid in ordered:
        if pid == survivor:
            continue
        if rules.within_caps(keys | held[pid]):
            merged.append(pid)
            keys |= held[pid]
        else:
            refused.append(pid)
    moved = [
        (k, graph.known[k])
        for k in sorted(component.keys)
        if graph.known.get(k) in refused and rules.merges_key(k) and not rules.capped(k)
    ]
    return _placement(survivor, merged, moved, component, graph, rules, unknown)


def _anchor(
    component: Component,
    graph: Graph,
    ordered: list[str],
    held: Mapping[str, frozenset[str]],
    own_capped: set[str],
    rules: IdentityRules,
    unknown: list[str],
) -> str:
    """The profile that owns the batch's capped key, else the owner of its strongest key."""
    holders = [pid for pid in ordered if held[pid] & own_capped]
    if holders:
        return holders[0]
    if own_capped:
        return new_profile_id(min((k for k in own_capped if k in unknown), default=min(own_capped)))
    owned = sorted((rules.rank(k), k) for k in component.keys if graph.owner(k) in held)
    return graph.known[owned[0][1]]


def _placement(
    survivor: str,
    merged: list[str],
    moved: list[tuple[str, str]],
    component: Component,
    graph: Graph,
    rules: IdentityRules,
    unknown: list[str],
) -> Placement:
    mine = {survivor, *merged}
    attached = component.strong and sorted(
        k
        for k in component.keys
        if k in graph.known and graph.known[k] not in mine and not rules.merges_key(k)
    )
    ambiguous = component.ambiguous and not component.strong and not component.profiles
    return Placement(
        survivor, tuple(merged), tuple(unknown), component, tuple(moved), tuple(attached or ()), ambiguous
    )
