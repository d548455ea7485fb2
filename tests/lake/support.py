"""Helpers for the Delta Lake tests: a world's canonical events written straight through the profile
writer (no Kafka needed to produce MongoDB changes), and independent reads and checks of the tables."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from c360.settings import Settings
from c360.storage import Location
from ingest.events import CanonicalEvent
from operational.store import Store
from operational.writer import ProfileWriter
from sync.delta_target import open_table
from sync.tables import ALL_TABLES, PROFILE_CHANGES
from tests.s3 import objects


def sync_env(settings: Settings, **lake: str) -> dict[str, str]:
    """The environment of a `c360 sync run` subprocess on the test's MongoDB and lake; `lake` sets more
    of the lake's settings (batch_size="200" is C360_LAKE__BATCH_SIZE=200)."""
    storage = settings.lake.storage.model_dump(exclude_none=True, exclude={"options"})
    return {
        **os.environ,
        "C360_MONGO__URI": settings.mongo.uri,
        "C360_MONGO__DATABASE": settings.mongo.database,
        "C360_LAKE__PATH": str(settings.lake.path),
        **{f"C360_LAKE__STORAGE__{name.upper()}": _env(value) for name, value in storage.items()},
        **{f"C360_LAKE__{name.upper()}": value for name, value in lake.items()},
    }


def _env(value: Any) -> str:
    """A setting as an environment variable's text: secrets revealed, booleans in lower case."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


def apply(store: Store, events: Sequence[CanonicalEvent], batch: int, pause_s: float = 0.0) -> None:
    writer = ProfileWriter(store)
    for start in range(0, len(events), batch):
        writer.apply(events[start : start + batch])
        time.sleep(pause_s)


def read(lake: Location, table: str, columns: list[str] | None = None) -> pa.Table:
    """The whole table through delta-rs's own scan (never the exit-aborting pyarrow dataset path)."""
    scan = open_table(lake.child(table)).scan(columns=columns)
    return pa.RecordBatchReader.from_stream(scan).read_all()


def every_object(settings: Settings) -> dict[str, bytes]:
    """Every object under lake.path, listed and read without c360's storage code: the files below a
    local directory, or the bucket's objects under the prefix through boto3."""
    lake = str(settings.lake.path)
    if not lake.startswith("s3://"):
        root = Path(lake)
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    bucket, _, prefix = lake.removeprefix("s3://").partition("/")
    found = objects(settings.lake.storage, bucket, prefix.rstrip("/") + "/")
    return {key.removeprefix(prefix.rstrip("/") + "/"): data for key, data in found.items()}


def commits(lake: Location) -> int:
    """Commit files across the lake's Delta logs: counting them needs no Delta reader."""
    logs = (lake.list(f"{table.name}/_delta_log/") for table in ALL_TABLES)
    return sum(1 for log in logs for name in log if name.endswith(".json"))


def step_until_idle(
    step: Callable[[], None], commits: Callable[[], int], idle_s: float = 1.5, timeout_s: float = 120
) -> None:
    """Step the sync until no commit happened for `idle_s` seconds (everything written is synced)."""
    seen, since = commits(), time.monotonic()
    deadline = since + timeout_s
    while time.monotonic() - since < idle_s:
        assert time.monotonic() < deadline, f"the sync did not settle in {timeout_s:.0f} s"
        step()
        if commits() != seen:
            seen, since = commits(), time.monotonic()


def assert_delta_holds_every_change_once(store: Store, lake: Location, epoch: int = 0) -> None:
    """Independent of the sync's own bookkeeping: MongoDB's documents say what Delta must hold.

    events: every stored event exactly once. identity_changes: every merge record exactly once.
    profile_changes: for every profile, each version from 1 (or from the version its snapshot row
    copied, when it existed before the sync first started) to the current one exactly once; the writer
    increments `version` on every update, so a gap is a lost change and a repeat a duplicate. A
    merged-away profile has redirect rows. With `epoch`, only the profile_changes rows of that epoch and
    later count: a new epoch starts over from a snapshot row per profile.
    """
    events = read(lake, "events", ["event_id", "sync_error"])
    assert events.column("sync_error").null_count == events.num_rows
    _assert_same_once(events.column("event_id").to_pylist(), store.events.distinct("_id"), "events")
    merges = read(lake, "identity_changes", ["change_id"]).column("change_id").to_pylist()
    _assert_same_once(merges, store.identity_events.distinct("_id"), "identity_changes")

    columns = ["profile_id", "version", "merged_into", "operation"]
    changes = read(lake, "profile_changes", [*columns, "sync_error", "sync_epoch"])
    assert changes.column("sync_error").null_count == changes.num_rows
    versions: dict[str, list[int]] = {}
    first: dict[str, int] = {}
    redirects: Counter[str] = Counter()
    for pid, version, merged_into, operation, row_epoch in zip(
        *(changes.column(c).to_pylist() for c in [*columns, "sync_epoch"]), strict=True
    ):
        if row_epoch < epoch:
            continue
        if merged_into is not None:
            redirects[pid] += 1
            continue
        versions.setdefault(pid, []).append(version)
        if operation == "snapshot":
            first[pid] = version
    problems = []
    for doc in store.profiles.find({}, {"version": 1, "merged_into": 1}):
        pid = doc["_id"]
        if "merged_into" in doc:
            if not redirects[pid]:
                problems.append(f"{pid}: merged, no redirect row")
            continue
        want = list(range(first.get(pid, 1), doc["version"] + 1))
        if sorted(versions.get(pid, [])) != want:
            problems.append(f"{pid}: versions {sorted(versions.get(pid, []))} != {want}")
    assert not problems, f"{len(problems)} profiles wrong, first: {problems[:5]}"
    assert set(versions) | set(redirects) == set(store.profiles.distinct("_id"))


def _assert_same_once(got: Iterable[Any], want: Iterable[Any], what: str) -> None:
    counts = Counter(got)
    duplicates = [k for k, n in counts.items() if n > 1]
    missing = set(want) - set(counts)
    extra = set(counts) - set(want)
    assert not duplicates, f"{what}: {len(duplicates)} duplicated, e.g. {duplicates[:3]}"
    assert not missing, f"{what}: {len(missing)} missing, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{what}: {len(extra)} unknown, e.g. {sorted(extra)[:3]}"


CHANGES_T0 = datetime(2026, 1, 1, tzinfo=UTC)  # day 0 of hand-built profile timelines


def on_day(days: float) -> datetime:
    return CHANGES_T0 + timedelta(days=days)


def profile_change(
    pid: str, seq: int, day: float, count: int, merged_into: str | None = None
) -> dict[str, object]:
    """A hand-built profile_changes row: profile `pid`'s version `seq` on `day`, with `count`
    transactions worth 10 each (none once merged into another profile)."""
    row: dict[str, object] = {f.name: None for f in PROFILE_CHANGES.schema}
    stats = [] if merged_into else [{"type": "transaction", "count": count, "amount": Decimal(count) * 10}]
    row.update(
        profile_id=pid, seq=seq, version=seq, operation="update", change_time=on_day(day), sync_batch=seq,
        sync_epoch=0, event_count=None if merged_into else count, first_seen=on_day(0),
        last_seen=on_day(day), stats=stats, identifiers=[], merged_into=merged_into,
        document=json.dumps({"_id": pid}),
    )  # fmt: skip
    return row
