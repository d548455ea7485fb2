"""Which CDC row changes take effect, pure: per row the change at the latest source position wins.

CDC rows are state, not events: an upsert replaces the row, a delete removes it, a truncate removes
every row of its table up to its position. Applying changes in any order, or twice, gives the state of
the latest position: a change older than what is stored (or than the table's last truncate) is stale
and ignored. Positions are the sortable strings of `ingest.cdc.encode_position`; a change without one
(the source gave none) is applied in delivery order.

Stored documents (collection `cdc_rows`):
    row     {_id: "<table>\\x1f<key>", table, entity, key, position, deleted, profile_id, row}
    marker  {_id: "<table>\\x1f#truncated", table, position}   the table's latest truncate
Deleted rows stay as `deleted: true` with their position, so that a late older upsert cannot revive them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.events import RowChange

TRUNCATED = "#truncated"


def row_id(table: str, key: str) -> str:
    return f"{table}\x1f{key}"


def marker_id(table: str) -> str:
    return row_id(table, TRUNCATED)


def newer(position: str | None, than: str | None) -> bool:
    """Whether a change at `position` supersedes state at `than` (ties re-apply the same state)."""
    return position is None or than is None or position >= than


@dataclass
class RowPlan:
    """What a batch does to the stored rows, and which profiles' CDC part must be recomputed.

    `truncates` run first against the stored rows (the writer also collects their profiles), then
    `rows` replace documents by id and `markers` record the tables' latest truncates.
    """

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    truncates: list[tuple[str, str | None]] = field(default_factory=list)
    markers: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)


def plan_rows(
    changes: Iterable[tuple[RowChange, str | None]],
    stored: Mapping[str, dict[str, Any]],
    truncated_at: Mapping[str, str],
) -> RowPlan:
    """Fold the batch's changes (each with the profile its upsert was placed on) over the stored rows."""
    plan = RowPlan()
    current = dict(stored)
    markers = dict(truncated_at)
    for change, profile_id in changes:
        if change.op == "truncate":
            _truncate(change, current, markers, plan)
            continue
        assert change.key is not None
        rid = row_id(change.table, change.key)
        old = current.get(rid)
        if not newer(change.position, old["position"] if old else None):
            continue
        if change.op == "upsert" and not newer(change.position, markers.get(change.table)):
            continue  # written before the table's last truncate: the truncate removed it
        if old is not None and not old["deleted"] and old["profile_id"]:
            plan.touched.add(old["profile_id"])
        live = change.op == "upsert"
        doc = {
            "_id": rid,
            "table": change.table,
            "entity": change.entity,
            "key": change.key,
            "position": change.position,
            "deleted": not live,
            "profile_id": profile_id if live else None,
            "row": change.row if live else {},
        }
        if live and profile_id:
            plan.touched.add(profile_id)
        current[rid] = plan.rows[rid] = doc
    plan.markers = {table: pos for table, pos in markers.items() if truncated_at.get(table) != pos}
    return plan


def _truncate(
    change: RowChange, current: dict[str, dict[str, Any]], markers: dict[str, str], plan: RowPlan
) -> None:
    position = change.position
    if position is not None and not newer(position, markers.get(change.table)):
        return
    if position is not None:
        markers[change.table] = position
    plan.truncates.append((change.table, position))
    for rid, doc in current.items():
        if doc["table"] != change.table or doc["deleted"] or not newer(position, doc["position"]):
            continue
        if doc["profile_id"]:
            plan.touched.add(doc["profile_id"])
        current[rid] = plan.rows[rid] = {**doc, "deleted": True, "profile_id": None, "row": {}}
