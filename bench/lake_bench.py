"""Lakehouse query benchmark: segment evaluation over N current profiles and LTV over M events, each in
DuckDB and in Polars in the same run, over synthetic Delta tables of the sync's exact schema.

The tables are generated with vectorized Arrow code (no per-row Python objects) into a temporary
directory and read through `lakehouse.tables.Lakehouse`, the same views `c360 sql` uses. Every query
runs `--repeat` times per engine; the first (cold) and the best time are reported.

    .venv/bin/python -m bench.lake_bench --help
"""

from __future__ import annotations

import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import typer
from deltalake import write_deltalake
from rich.console import Console
from rich.table import Table

from lakehouse.analyses import REVENUE_TYPES, ltv_sql
from lakehouse.segments import Segment, members_sql
from lakehouse.tables import Lakehouse
from sync.tables import EVENTS, MONEY, PROFILES_CURRENT, TIME

console = Console()
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
SEGMENT_BAR_S, LTV_BAR_S = 1.0, 5.0


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


def _time(run: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return times[0], min(times), result


@app.command()
def main(
    profiles: Annotated[int, typer.Option(help="Current profiles in the synthetic lake.")] = 1_000_000,
    events: Annotated[int, typer.Option(help="Events in the synthetic lake.")] = 10_000_000,
    repeat: Annotated[int, typer.Option(help="Runs per query and engine.")] = 3,
    seed: Annotated[int, typer.Option()] = 360,
) -> None:
    """Segment evaluation and LTV, DuckDB against Polars, on synthetic Delta tables; prints a table."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="c360-lake-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        write_deltalake(str(root / PROFILES_CURRENT.name), make_profiles(profiles, rng))
        table = make_events(events, profiles, rng)
        write_deltalake(str(root / EVENTS.name), table, partition_by=list(EVENTS.partition_by))
        del table
        console.print(
            f"generated {profiles:,} profiles, {events:,} events in {time.perf_counter() - started:.1f} s"
        )
        lake = Lakehouse(root, as_of=NOW)
        con, frames = lake.duckdb(), lake.polars()
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
        runs = {
            ("segment", "duckdb"): lambda: con.sql(seg_sql).to_arrow_table(),
            ("segment", "polars"): lambda: seg_polars.collect(),
            ("ltv", "duckdb"): lambda: con.sql(ltv).to_arrow_table(),
            ("ltv", "polars"): lambda: ltv_polars.collect(),
        }
        results = {key: _time(run, repeat) for key, run in runs.items()}
    rows = {k: (v[2].num_rows if isinstance(v[2], pa.Table) else v[2].height) for k, v in results.items()}
    assert rows[("segment", "duckdb")] == rows[("segment", "polars")], rows
    assert rows[("ltv", "duckdb")] == rows[("ltv", "polars")], rows
    out = Table("query", "engine", "rows", "first s", "best s", "bar")
    for (query, engine), (first, best, _) in results.items():
        bar = SEGMENT_BAR_S if query == "segment" else LTV_BAR_S
        out.add_row(query, engine, f"{rows[(query, engine)]:,}", f"{first:.3f}", f"{best:.3f}",
                    f"{'ok' if first < bar else 'FAIL'} < {bar:g} s")  # fmt: skip
    console.print(out)
    console.print(f"command: python -m bench.lake_bench {shlex.join(sys.argv[1:])}".rstrip())
    console.print(f"median of all first runs: {statistics.median(r[0] for r in results.values()):.3f} s")


if __name__ == "__main__":
    app()
