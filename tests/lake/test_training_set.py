"""Point-in-time training sets on a hand-built timeline written as a real Delta table: no value recorded
after a label's time reaches it, and a merge after the label's time does not bring in the other
profile's history (while a merge before it does, through the survivor)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from c360.storage import Location
from lakehouse.tables import Lakehouse
from lakehouse.training import LabelError, training_set
from sync.tables import PROFILE_CHANGES
from tests.lake.support import on_day as day
from tests.lake.support import profile_change as change


def test_features_as_of_the_label_time_follow_merges_only_once_made(tmp_path: Path) -> None:
    # A: 1 transaction on day 1, 5 by day 3; merged into B on day 4. B: 10 on day 1, 15 after the merge.
    rows = [
        change("pA", 1, 1, 1), change("pB", 2, 1, 10), change("pA", 3, 3, 5),
        change("pB", 4, 4, 15), change("pA", 5, 4, 0, merged_into="pB"), change("pB", 6, 9, 16),
    ]  # fmt: skip
    lake = Location(str(tmp_path / "lake"))
    write_deltalake(lake.child("profile_changes").uri, pa.Table.from_pylist(rows, PROFILE_CHANGES.schema))
    labels = pa.table(
        {
            "profile_id": ["pA", "pA", "pA", "pB", "pB", "pZ", "pA"],
            "at": pa.array(
                [day(2), day(3.5), day(5), day(2), day(5), day(5), day(0.5)], pa.timestamp("us", "UTC")
            ),
            "churned": [0, 1, 1, 0, 1, 0, 0],
        }
    )
    out = training_set(Lakehouse(lake).duckdb(), labels, time_column="at").to_pylist()
    got = [(r["profile_id"], r["feature_profile_id"], r["transaction_count"], r["churned"]) for r in out]
    assert got == [
        ("pA", "pA", 1, 0),  # day 2: A's own first version, not the 5 it had by day 3
        ("pA", "pA", 5, 1),  # day 3.5: the merge on day 4 does not reach back: A alone
        ("pA", "pB", 15, 1),  # day 5: merged by then, so the survivor's version of day 4, not day 9's 16
        ("pB", "pB", 10, 0),  # day 2: B without A's history
        ("pB", "pB", 15, 1),
        ("pZ", None, None, 0),  # unknown profile: no features
        ("pA", None, None, 0),  # before A existed
    ]
    for r, label_time in zip(out, labels["at"].to_pylist(), strict=True):
        assert r["features_as_of"] is None or r["features_as_of"] <= label_time
    assert out[2]["transaction_amount"] == Decimal(150)


def test_labels_without_the_columns_are_refused(tmp_path: Path) -> None:
    lake = Location(str(tmp_path / "lake"))
    con = Lakehouse(lake).duckdb()
    with pytest.raises(LabelError, match="no column 'at'"):
        training_set(con, pa.table({"profile_id": ["p"]}), time_column="at")
    with pytest.raises(LabelError, match="must be a timestamp"):
        training_set(con, pa.table({"profile_id": ["p"], "at": ["2026-01-01"]}), time_column="at")
