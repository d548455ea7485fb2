"""Merge lineage, pure: which profile ids a profile currently stands for, replayed from identity events.

Merges and splits are never edited, only appended (operational/identity_ops.py), so the tree of who was
folded into whom is a replay: a merge hangs the merged profile under its survivor, a split cuts it off
again together with everything that hangs under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def parents(identity_events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Profile -> the profile it is folded into now, from merge and split records in time order."""
    parent: dict[str, str] = {}
    for doc in sorted(identity_events, key=lambda d: (d["at"], d["_id"])):
        if doc["kind"] == "merge":
            parent[doc["merged"]] = doc["survivor"]
        elif doc["kind"] == "split":
            parent.pop(doc["merged"], None)
    return parent


def subtree(root: str, parent: Mapping[str, str]) -> set[str]:
    """The root and every profile folded into it, directly or through others."""
    children: dict[str, list[str]] = {}
    for child, up in parent.items():
        children.setdefault(up, []).append(child)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
