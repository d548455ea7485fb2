"""Row state, pure: any delivery order and any re-delivery converge to the row at the latest position;
deletes and truncates remove rows, and the profiles whose rows changed are reported."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from ingest.events import RowChange
from profiles.row_state import marker_id, plan_rows, row_id

T = "crm.product_holdings"


def _pos(n: int) -> str:
    return f"{n:020d}"


def upsert(key: str, at: int, **row: Any) -> RowChange:
    return RowChange(op="upsert", table=T, entity="holding", key=key, position=_pos(at), row=row)


def delete(key: str, at: int) -> RowChange:
    return RowChange(op="delete", table=T, entity="holding", key=key, position=_pos(at))


def truncate(at: int) -> RowChange:
    return RowChange(op="truncate", table=T, entity="holding", position=_pos(at))


def _live(changes: list[tuple[RowChange, str | None]], batches: int = 1) -> dict[str, dict[str, Any]]:
    """Apply the changes in `batches` consecutive batches, the stored state carried between them."""
    stored: dict[str, dict[str, Any]] = {}
    markers: dict[str, str] = {}
    size = -(-len(changes) // batches)
    for start in range(0, len(changes), size):
        plan = plan_rows(changes[start : start + size], stored, markers)
        for table, position in plan.truncates:  # what the writer's update_many does to stored rows
            for rid, doc in stored.items():
                if doc["table"] == table and not doc["deleted"] and doc["position"] <= position:
                    stored[rid] = {**doc, "deleted": True, "profile_id": None, "row": {}}
        stored.update(plan.rows)
        markers.update(plan.markers)
    return {doc["key"]: doc["row"] for doc in stored.values() if not doc["deleted"]}


HISTORY = [
    (upsert("a", 1, limit=100), "p1"),
    (upsert("b", 2, limit=5), "p1"),
    (upsert("a", 3, limit=200), "p1"),
    (delete("b", 4), None),
    (upsert("c", 5, limit=7), "p2"),
    (truncate(6), None),
    (upsert("d", 7, limit=1), "p2"),
    (upsert("d", 8, limit=2), "p2"),
]
FINAL = {"d": {"limit": 2}}  # what the source table holds after the history


@pytest.mark.parametrize("batches", [1, 3, 8])
def test_every_delivery_order_converges_to_the_final_state(batches: int) -> None:
    for order in itertools.islice(itertools.permutations(HISTORY), 0, None, 97):
        assert _live(list(order), batches) == FINAL, order


def test_redelivery_of_a_prefix_after_a_crash_changes_nothing() -> None:
    assert _live(HISTORY + HISTORY[:5], batches=2) == FINAL
    assert _live(HISTORY[:3] + HISTORY[:3]) == {"a": {"limit": 200}, "b": {"limit": 5}}


def test_update_replaces_delete_removes_and_reports_profiles() -> None:
    first = plan_rows([(upsert("a", 1, limit=100), "p1")], {}, {})
    assert first.touched == {"p1"}
    stored = dict(first.rows)
    moved = plan_rows([(upsert("a", 2, limit=100), "p2")], stored, {})
    assert moved.touched == {"p1", "p2"}  # the row moved to another customer: both recompute
    gone = plan_rows([(delete("a", 3), None)], moved.rows, {})
    doc = gone.rows[row_id(T, "a")]
    assert doc["deleted"] and doc["position"] == _pos(3) and gone.touched == {"p2"}


def test_stale_change_is_ignored_and_touches_nothing() -> None:
    stored = plan_rows([(upsert("a", 5, limit=1), "p1")], {}, {}).rows
    stale = plan_rows([(upsert("a", 4, limit=9), "p1"), (delete("a", 3), None)], stored, {})
    assert stale.rows == {} and stale.touched == set()


def test_truncate_records_a_marker_that_stops_older_inserts() -> None:
    plan = plan_rows([(truncate(10), None)], {}, {})
    assert plan.truncates == [(T, _pos(10))] and plan.markers == {T: _pos(10)}
    late = plan_rows([(upsert("z", 9, limit=1), "p1")], {}, plan.markers)
    assert late.rows == {}
    later = plan_rows([(upsert("z", 11, limit=1), "p1")], {}, plan.markers)
    assert list(later.rows) == [row_id(T, "z")]
    assert marker_id(T) == row_id(T, "#truncated")


def test_changes_without_positions_apply_in_delivery_order() -> None:
    change = RowChange(op="upsert", table=T, entity="holding", key="a", row={"v": 1})
    again = RowChange(op="upsert", table=T, entity="holding", key="a", row={"v": 2})
    plan = plan_rows([(change, "p"), (again, "p")], {}, {})
    assert plan.rows[row_id(T, "a")]["row"] == {"v": 2}
