"""DeltaTarget on a local Delta table (no servers): the batch a merge records is in the log even when
the merge changes nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from sync.delta_target import DeltaTarget
from sync.tables import PROFILES_CURRENT


def _rows(operation: str, seq: int) -> pa.Table:
    row = {"profile_id": "p1", "seq": seq, "operation": operation}
    return pa.Table.from_pylist([row], PROFILES_CURRENT.schema)


def test_a_merge_that_changes_nothing_still_records_its_batch(tmp_path: Path) -> None:
    current = DeltaTarget(tmp_path, PROFILES_CURRENT, "app")
    current.merge_latest(_rows("delete", 1), batch=1)  # a profile created and deleted in between
    assert DeltaTable(str(tmp_path / "profiles_current")).transaction_version("app") == 1
    current.merge_latest(_rows("insert", 2), batch=2)
    table = DeltaTable(str(tmp_path / "profiles_current"))
    assert table.transaction_version("app") == 2
    assert pa.RecordBatchReader.from_stream(table.scan(columns=["seq"])).read_all().to_pylist() == [
        {"seq": 2}
    ]
