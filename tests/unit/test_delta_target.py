"""DeltaTarget on a local Delta table (no servers): the batch a merge records is in the log even when
the merge changes nothing, and even when another writer commits meanwhile; an erasure removes exactly
its keys' rows."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from c360.storage import Location
from sync.delta_target import Checkpoint, DeltaTarget, key_in
from sync.tables import PROFILE_CHANGES, PROFILES_CURRENT


def _rows(operation: str, seq: int) -> pa.Table:
    row = {"profile_id": "p1", "seq": seq, "operation": operation}
    return pa.Table.from_pylist([row], PROFILES_CURRENT.schema)


def test_a_merge_that_changes_nothing_still_records_its_batch(tmp_path: Path) -> None:
    current = DeltaTarget(Location(str(tmp_path)), PROFILES_CURRENT, "app")
    current.merge_latest(PROFILES_CURRENT.schema.empty_table(), batch=1)  # no profile changed
    assert DeltaTable(str(tmp_path / "profiles_current")).transaction_version("app") == 1
    current.merge_latest(_rows("insert", 2), batch=2)
    table = DeltaTable(str(tmp_path / "profiles_current"))
    assert table.transaction_version("app") == 2
    assert pa.RecordBatchReader.from_stream(table.scan(columns=["seq"])).read_all().to_pylist() == [
        {"seq": 2}
    ]


def test_a_merge_that_changes_nothing_records_its_batch_beside_another_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer (a compaction, another process) commits while the merge runs. Its commit is not
    the merge's: the batch must still be recorded, or a second sync's commits go unnoticed."""
    current = DeltaTarget(Location(str(tmp_path)), PROFILES_CURRENT, "app")
    current.merge_latest(_rows("insert", 1), batch=1)
    merge = current.delta.merge

    def merge_beside_another_writer(*args: Any, **kwargs: Any) -> Any:
        other = DeltaTable(str(tmp_path / "profiles_current"))
        write_deltalake(other, PROFILES_CURRENT.schema.empty_table(), mode="append")
        return merge(*args, **kwargs)

    monkeypatch.setattr(current.delta, "merge", merge_beside_another_writer)
    current.merge_latest(_rows("insert", 1), batch=2)  # seq 1 again: the merge changes nothing
    table = DeltaTable(str(tmp_path / "profiles_current"))
    assert table.transaction_version("app") == 2
    assert table.version() == 3  # the first merge, the other writer's commit, this batch's record


def test_a_resnapshot_whose_keys_are_all_held_still_records_its_batch(tmp_path: Path) -> None:
    """A new epoch re-reads immutable records the table holds already (events after a lost stream
    history): the insert-missing merge changes nothing, yet the batch must be in the log, or the next
    commit finds the table a batch behind and the sync stops."""
    table = DeltaTarget(Location(str(tmp_path)), PROFILES_CURRENT, "app")
    table.append(_rows("insert", 1), Checkpoint(batch=1, epoch=0))
    table.insert_missing(_rows("snapshot", 1), Checkpoint(batch=2, epoch=1))
    assert DeltaTable(str(tmp_path / "profiles_current")).transaction_version("app") == 2
    assert table.checkpoint() == Checkpoint(batch=2, epoch=1)
    table.append(PROFILES_CURRENT.schema.empty_table(), Checkpoint(batch=3, epoch=1))  # the next batch
    rows = pa.RecordBatchReader.from_stream(DeltaTable(str(tmp_path / "profiles_current")).scan()).read_all()
    assert rows.select(["operation"]).to_pylist() == [{"operation": "insert"}]


def test_erase_removes_every_row_of_the_keys_and_only_those(tmp_path: Path) -> None:
    changes = DeltaTarget(Location(str(tmp_path)), PROFILE_CHANGES, "app")
    keys = ["p1", "p2", "o'brien", "p3", "p1"]
    rows = [{"profile_id": key, "seq": seq} for seq, key in enumerate(keys)]
    changes.append(pa.Table.from_pylist(rows, PROFILE_CHANGES.schema), Checkpoint(batch=1))
    changes.erase({"p1", "o'brien"})
    table = DeltaTable(str(tmp_path / "profile_changes"))
    left = pa.RecordBatchReader.from_stream(table.scan(columns=["profile_id", "seq"])).read_all()
    assert sorted(left.to_pylist(), key=lambda r: r["seq"]) == [
        {"profile_id": "p2", "seq": 1},
        {"profile_id": "p3", "seq": 3},
    ]
    assert table.transaction_version("app") == 1  # the erasure records no batch: the next commit does
    assert key_in("profile_id", ["b", "a'"]) == "profile_id IN ('a''', 'b')"


@pytest.mark.parametrize("after_s", [*(ms / 1000 for ms in range(0, 40, 4)), 0.3])  # a compaction: ~30 ms
def test_an_erasure_beside_a_background_compaction_commits(tmp_path: Path, after_s: float) -> None:
    """Started during the compaction or after it committed: either way the DELETE must not lose to it
    (the sync would stop) nor read what the compaction replaced."""
    changes = DeltaTarget(Location(str(tmp_path)), PROFILE_CHANGES, "app")
    for batch in range(1, 31):
        rows = [{"profile_id": f"p{batch}-{i}", "seq": i} for i in range(20)]
        changes.append(pa.Table.from_pylist(rows, PROFILE_CHANGES.schema), Checkpoint(batch=batch))
    changes.compact_in_background()
    time.sleep(after_s)
    changes.erase({"p3-1", "p7-2"})
    changes.wait_compaction()
    table = DeltaTable(str(tmp_path / "profile_changes"))
    left = pa.RecordBatchReader.from_stream(table.scan(columns=["profile_id"])).read_all()
    assert left.num_rows == 30 * 20 - 2
    assert not {"p3-1", "p7-2"} & set(left.column("profile_id").to_pylist())


def test_a_table_from_before_the_stats_setting_keeps_only_its_stats_columns_from_then_on(
    tmp_path: Path,
) -> None:
    """The log outlives vacuums: a file's entry must not keep the min/max `document` (personal data)."""
    path = tmp_path / "profile_changes"
    path.mkdir()
    DeltaTable.create(str(path), PROFILE_CHANGES.schema, name="profile_changes")  # as tables were made
    row = {"profile_id": "p1", "seq": 1, "operation": "insert", "document": '{"email": "ann@x.com"}'}
    DeltaTarget(Location(str(tmp_path)), PROFILE_CHANGES, "app").append(
        pa.Table.from_pylist([row], PROFILE_CHANGES.schema), Checkpoint(batch=1, epoch=0)
    )
    adds = [
        json.loads(json.loads(line)["add"]["stats"])
        for log in sorted((path / "_delta_log").glob("*.json"))
        for line in log.read_text().splitlines()
        if "add" in json.loads(line)
    ]
    assert len(adds) == 1 and set(adds[0]["minValues"]) == {"profile_id", "seq", "operation"}
    assert "ann@x.com" not in "".join(p.read_text() for p in (path / "_delta_log").glob("*.json"))
