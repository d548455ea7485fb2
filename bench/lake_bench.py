"""Lakehouse query benchmark: segment evaluation over N current profiles and LTV over M events, each in
DuckDB and in Polars in the same run, over synthetic Delta tables of the sync's exact schema, on local
disk and in a bucket of an S3-protocol server (moto, started here), with a bare pyarrow scan of the
same files from the same store beside them: the floor any engine reading that store can reach.

The tables are generated with vectorized Arrow code (no per-row Python objects), written to each store
and read through `lakehouse.tables.Lakehouse`, the same views `c360 sql` uses. Every query runs
`--repeat` times per engine; the first (cold) and the best time are reported, and the best time's ratio
to the best bare scan (bar: 1.5x).

    .venv/bin/python -m bench.lake_bench --help
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import typer
from deltalake import write_deltalake
from rich.console import Console
from rich.table import Table

from c360.storage import Location, location
from lakehouse.analyses import REVENUE_TYPES, ltv_sql
from lakehouse.segments import Segment, members_sql
from lakehouse.tables import Lakehouse
from sync.delta_target import open_table
from sync.tables import EVENTS, MONEY, PROFILES_CURRENT, TIME

console = Console(width=130)
app = typer.Typer(add_completion=False, rich_markup_mode=None)
NOW = datetime(2026, 11, 20, tzinfo=UTC)
DAY_US = 86_400_000_000
WINDOW_DAYS = 120
TYPES = np.array(["transaction", "page_view", "order", "email_sent", "login"])
TYPE_WEIGHTS = np.array([0.45, 0.25, 0.1, 0.15, 0.05])
SEGMENT = Segment(
    name="big_recent_buyers",
    where="stat_amount(stats, 'order') > 300 AND last_seen > as_of() - INTERVAL 30 DAY",
)
SCAN_RATIO_BAR = 1.5  # a query over the store against a bare pyarrow scan of the same files


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(numbers).cast(pa.string()), "")


def _nulls(schema: pa.Schema, n: int, given: dict[str, pa.Array]) -> pa.Table:
    return pa.table({f.name: given.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema)


def _money(cents: np.ndarray) -> pa.Array:
    """Exact decimals from integer cents: cents as decimal, times 0.01, widened to the table's type."""
    whole = pa.array(cents).cast(pa.decimal128(19, 0))
    return pc.multiply(whole, pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))).cast(MONEY)


def make_profiles(n: int, rng: np.random.Generator) -> pa.Table:
    now_us = int(NOW.timestamp() * 1_000_000)
    last = now_us - rng.integers(0, WINDOW_DAYS * DAY_US, n)
    first = last - rng.integers(0, WINDOW_DAYS * DAY_US, n)
    counts = rng.integers(1, 60, (n, 2))
    amounts = _money(rng.integers(0, 100_000, n * 2))
    stats = pa.StructArray.from_arrays(
        [pa.array(np.tile(["transaction", "order"], n)), pa.array(counts.reshape(-1)), amounts],
        fields=list(PROFILES_CURRENT.schema.field("stats").type.value_type),
    )
    offsets = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))
    times = {k: pa.array(v, TIME) for k, v in (("first_seen", first), ("last_seen", last))}
    return _nulls(
        PROFILES_CURRENT.schema,
        n,
        {
            "profile_id": _ids("p", np.arange(n)),
            "seq": pa.array(np.arange(n)),
            "version": pa.array(counts.sum(axis=1)),
            "event_count": pa.array(counts.sum(axis=1)),
            "stats": pa.ListArray.from_arrays(offsets, stats),
            "operation": pa.array(np.full(n, "snapshot")),
            **times,
        },
    )


def make_events(m: int, profiles: int, rng: np.random.Generator) -> pa.Table:
    now_us = int(NOW.timestamp() * 1_000_000)
    at = now_us - rng.integers(0, WINDOW_DAYS * DAY_US, m)
    kinds = TYPES[rng.choice(len(TYPES), m, p=TYPE_WEIGHTS)]
    money = np.isin(kinds, list(REVENUE_TYPES))
    amount = _money(rng.integers(1, 50_000, m))
    occurred = pa.array(at, TIME)
    return _nulls(
        EVENTS.schema,
        m,
        {
            "event_id": _ids("e", np.arange(m)),
            "type": pa.array(kinds),
            "occurred_at": occurred,
            "occurred_date": occurred.cast(pa.timestamp("us")).cast(pa.date32()),
            "amount": pc.if_else(pa.array(money), amount, pa.nulls(m, MONEY)),
            "currency": pa.array(np.where(money, "GBP", None)),
            "profile_id": _ids("p", rng.integers(0, profiles, m)),
            "operation": pa.array(np.full(m, "insert")),
        },
    )


def timed(run: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return times[0], min(times), result


# The columns each query reads, per table: what the bare pyarrow scan of the same files reads.
SCANS = {
    "segment": {PROFILES_CURRENT: ["profile_id", "stats", "last_seen", "merged_into", "sync_error"]},
    "ltv": {
        EVENTS: ["profile_id", "type", "amount", "occurred_at", "sync_error"],
        PROFILES_CURRENT: ["profile_id", "merged_into", "sync_error"],  # the events view's redirects
    },
}


def bare_scan(lake: Location, query: str) -> int:
    """The files of the tables `query` reads, those columns only, through pyarrow alone: the floor a
    query engine over the same store can reach."""
    rows = 0
    for table, columns in SCANS[query].items():
        delta = open_table(lake.child(table.name))
        actions = pa.table(delta.get_add_actions(flatten=True))
        root, parquet = lake.arrow_path(lake.child(table.name).uri), ds.ParquetFileFormat()
        filesystem = lake.arrow_filesystem()
        fragments = [  # sizes from the log, as the lakehouse has them: no request per file to open it
            parquet.make_fragment(f"{root}/{path}", filesystem, file_size=size)
            for path, size in zip(actions["path"].to_pylist(), actions["size_bytes"].to_pylist(), strict=True)
        ]
        schema = pa.schema([table.schema.field(c) for c in columns])
        dataset = ds.FileSystemDataset(fragments, schema, parquet, filesystem)
        rows += dataset.to_table(columns=columns).num_rows
    return rows


def _queries(lake: Location) -> dict[tuple[str, str], Callable[[], Any]]:
    """Each query in each engine over the lake at `lake`, and the bare scans beside them."""
    views = Lakehouse(lake, as_of=NOW)
    con, frames = views.duckdb(), views.polars()
    seg_sql, ltv = members_sql(SEGMENT), ltv_sql()
    cutoff = NOW.replace(tzinfo=UTC)
    # Columnar: explode the stats lists and aggregate, rather than `list.eval` per profile (which
    # evaluates an expression per list: 2.6 s against 0.3 s here for 1M profiles).
    seg_polars = (
        frames["profiles"]
        .filter(pl.col("last_seen") > pl.lit(cutoff) - pl.duration(days=30))
        .select("profile_id", "stats")
        .explode("stats")
        .unnest("stats")
        .filter(pl.col("type") == "order")
        .group_by("profile_id")
        .agg(pl.col("amount").sum())
        .filter(pl.col("amount") > Decimal(300))
        .select("profile_id")
    )
    ltv_polars = (
        frames["events"]
        .filter(pl.col("type").is_in(list(REVENUE_TYPES)) & pl.col("amount").is_not_null())
        .filter(pl.col("occurred_at") <= pl.lit(cutoff))
        .group_by("profile_id")
        .agg(
            pl.col("amount").sum().alias("ltv"),
            pl.len().alias("purchases"),
            pl.col("occurred_at").min().alias("first_purchase"),
            pl.col("occurred_at").max().alias("last_purchase"),
        )
    )
    return {
        ("segment", "pyarrow scan"): lambda: bare_scan(lake, "segment"),
        ("segment", "duckdb"): lambda: con.sql(seg_sql).to_arrow_table(),
        ("segment", "polars"): lambda: seg_polars.collect(),
        ("ltv", "pyarrow scan"): lambda: bare_scan(lake, "ltv"),
        ("ltv", "duckdb"): lambda: con.sql(ltv).to_arrow_table(),
        ("ltv", "polars"): lambda: ltv_polars.collect(),
    }


def _rows(result: Any) -> int:
    return (
        result
        if isinstance(result, int)
        else result.num_rows
        if isinstance(result, pa.Table)
        else result.height
    )


@contextmanager
def _stores(which: str, tmp: Path) -> Iterator[dict[str, Location]]:
    """The lake roots to measure: a local directory and/or a bucket on moto's S3 server (the one the
    test suite starts, tests/s3.py), started here on a free port."""
    roots = {"local disk": Location(str(tmp / "lake"))} if which in ("local", "both") else {}
    if which == "local":
        yield roots
        return
    from tests.s3 import S3Server  # the dev extra's moto[server]

    with S3Server.start(tmp / "moto.log") as server, server.bucket() as bucket:
        roots["S3 (moto)"] = location(f"s3://{bucket}/lake", server.storage())
        yield roots


@app.command()
def main(
    profiles: Annotated[int, typer.Option(help="Current profiles in the synthetic lake.")] = 1_000_000,
    events: Annotated[int, typer.Option(help="Events in the synthetic lake.")] = 10_000_000,
    repeat: Annotated[int, typer.Option(help="Runs per query and engine.")] = 3,
    store: Annotated[
        str, typer.Option(help="local, s3 (moto's S3 server, started here) or both, in one run.")
    ] = "both",
    seed: Annotated[int, typer.Option()] = 360,
) -> None:
    """Segment evaluation and LTV in DuckDB and Polars, beside a bare pyarrow scan of the same files,
    on local disk and on an S3-protocol server; prints a table with each query's ratio to the scan."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    current, table = make_profiles(profiles, rng), make_events(events, profiles, rng)
    console.print(
        f"generated {profiles:,} profiles, {events:,} events in {time.perf_counter() - started:.1f} s"
    )
    out = Table("store", "query", "engine", "rows", "first s", "best s", "best / scan", "bar")
    with tempfile.TemporaryDirectory(prefix="c360-lake-bench-") as tmp, _stores(store, Path(tmp)) as roots:
        for name, lake in roots.items():
            started = time.perf_counter()
            options = dict(lake.options) or None
            write_deltalake(lake.child(PROFILES_CURRENT.name).uri, current, storage_options=options)
            write_deltalake(
                lake.child(EVENTS.name).uri,
                table,
                partition_by=list(EVENTS.partition_by),
                storage_options=options,
            )
            console.print(f"{name}: tables written in {time.perf_counter() - started:.1f} s")
            results = {key: timed(run, repeat) for key, run in _queries(lake).items()}
            rows = {key: _rows(result) for key, (_, _, result) in results.items()}
            for query in ("segment", "ltv"):
                assert rows[(query, "duckdb")] == rows[(query, "polars")], rows
            for (query, engine), (first, best, _) in results.items():
                scan = results[(query, "pyarrow scan")][1]
                ratio = best / scan
                bar = (
                    ""
                    if engine == "pyarrow scan"
                    else f"{'ok' if ratio <= SCAN_RATIO_BAR else 'FAIL'} <= {SCAN_RATIO_BAR:g}x"
                )
                out.add_row(name, query, engine, f"{rows[(query, engine)]:,}", f"{first:.3f}", f"{best:.3f}",
                            f"{ratio:.2f}", bar)  # fmt: skip
    console.print(out)
    console.print(f"command: python -m bench.lake_bench {shlex.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    app()
