"""identity/lineage.py on hand-written merge and split histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from identity.lineage import parents, subtree

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(kind: str, merged: str, survivor: str, minutes: int, suffix: str = "") -> dict:
    return {
        "_id": f"{kind}:{merged}:{survivor}{suffix}",
        "kind": kind,
        "merged": merged,
        "survivor": survivor,
        "at": T0 + timedelta(minutes=minutes),
    }


def test_merges_hang_under_survivors_and_a_split_cuts_one_off_in_time_order() -> None:
    history = [
        record("split", "pB", "pA", 3),  # listed first, happened last
        record("merge", "pB", "pA", 1),
        record("merge", "pC", "pB", 2),
        record("merge", "pD", "pA", 2),
        record("move", "pE", "pA", 2),  # not lineage
    ]
    assert parents(history) == {"pC": "pB", "pD": "pA"}
    assert parents(history[1:]) == {"pB": "pA", "pC": "pB", "pD": "pA"}
    assert parents([record("split", "pX", "pA", 0)]) == {}


def test_records_at_the_same_time_replay_in_id_order() -> None:
    # Same instant: "merge:..." sorts before "split:...", so the split wins.
    same = [record("split", "pB", "pA", 1), record("merge", "pB", "pA", 1)]
    assert parents(same) == {}
    # "merge:pB:pZ" sorts after "merge:pB:pA~": the survivor named last by id wins.
    by_id = [record("merge", "pB", "pZ", 1), record("merge", "pB", "pA", 1, "~")]
    assert parents(by_id) == {"pB": "pZ"}


def test_subtree_follows_every_level_once() -> None:
    tree = {"pB": "pA", "pC": "pB", "pD": "pC", "pE": "pA", "pX": "pY"}
    assert subtree("pA", tree) == {"pA", "pB", "pC", "pD", "pE"}
    assert subtree("pC", tree) == {"pC", "pD"}
    assert subtree("pQ", tree) == {"pQ"}
    assert subtree("pA", {"pA": "pB", "pB": "pA"}) == {"pA", "pB"}  # a cycle ends
