"""The SQL endpoint against DuckDB in process: a point query and a segment query on customer_360 over N
profiles, through the PostgreSQL protocol (psycopg) and on a local DuckDB connection, in the same run.

The profiles are real: a generated world is written through the profile writer into a private mongod and
synced to a lake; each live profile's latest profile_changes row is then copied under new ids up to
`--profiles` rows into a second lake, which the endpoint (sql/engine.py) loads. Both sides query the same
in-memory database (the endpoint's own, so the views, the data and DuckDB's work are identical) and
fetch every row into Python tuples; what differs is the protocol: encoding, the socket, psycopg's
decoding. Each query runs `--repeat` times per side; the first and best times are shown, and the
endpoint's best over DuckDB's best (bar: 1.5x for the segment query).

    .venv/bin/python -m bench.sql_bench --help
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import typer
from deltalake import write_deltalake
from rich.console import Console
from rich.table import Table

from api.auth import KeyRing
from bench.ingest_bench import _servers
from bench.lake_bench import timed
from c360.settings import load_settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from lakehouse.tables import Lakehouse
from operational.store import Store
from operational.writer import ProfileWriter
from profiles.offers import load_offer_rules
from sql.engine import Engine
from sql.server import Endpoint
from sync.runner import LakeSync
from sync.stream import BatchReport
from sync.tables import PROFILE_CHANGES
from tests.sql_serving import serving  # the dev extra's psycopg; the same helper the tests serve with

console = Console(width=130)
app = typer.Typer(add_completion=False, rich_markup_mode=None)
RATIO_BAR = 1.5  # the segment query through the endpoint against DuckDB in process
KEY = ("bench", "bench-key-change-me-0001")
POINT = "SELECT * FROM customer_360 WHERE profile_id = $1"
SEGMENT = (
    "SELECT profile_id, engagement_score, total_activity_volume FROM customer_360 "
    "WHERE tx_count_90d >= 2 AND engagement_score >= 10"
)
_LATEST = """
SELECT * FROM profile_changes WHERE merged_into IS NULL AND operation <> 'delete'
QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY seq DESC) = 1
"""


def real_profiles(work: Path, people: int) -> tuple[pa.Table, Any]:
    """Each live profile's latest profile_changes row, for a world written and synced on a private
    mongod, and the world's `now` (the views' clock)."""
    world = generate_world(people=people, events_per_person=12, seed=20)
    events = world_events(world)
    with _servers(work, None, None, None) as (uri, _kafka):
        mongo = {"uri": uri, "database": "bench_sql"}
        settings = load_settings(mongo=mongo, lake={"path": str(work / "src")})
        store = Store.open(uri, settings.mongo.database)
        try:
            store.ensure_indexes()
            writer = ProfileWriter(store)
            with console.status(f"writing {len(events):,} events of {people:,} people"):
                for start in range(0, len(events), 2_000):
                    writer.apply(events[start : start + 2_000])
            synced: dict[str, int] = {}

            def record(report: BatchReport) -> None:
                synced[report.table] = synced.get(report.table, 0) + report.rows

            sync, stop = LakeSync(store, settings.lake, record), threading.Event()
            runner = threading.Thread(target=sync.run, args=(stop,))
            runner.start()
            stored = store.events.count_documents({})
            with console.status("syncing to the lake"):
                while synced.get("events", 0) < stored:
                    time.sleep(0.5)
                time.sleep(3)  # the profile stream's last batch
            stop.set()
            runner.join()
        finally:
            store.close()
    latest = Lakehouse(Location(str(work / "src"))).duckdb().sql(_LATEST).to_arrow_table()
    return latest, world.now


def copies(latest: pa.Table, n: int) -> pa.Table:
    """`n` profiles: the real ones repeated, each copy under ids and seqs of its own."""
    parts, k = [], 0
    while sum(p.num_rows for p in parts) < n:
        part = latest.slice(0, min(latest.num_rows, n - sum(p.num_rows for p in parts)))
        ids = pc.binary_join_element_wise(part["profile_id"], pa.scalar(f"-{k}"), "")
        seq = pa.array(range(k * latest.num_rows, k * latest.num_rows + part.num_rows), pa.int64())
        part = part.set_column(part.schema.get_field_index("profile_id"), "profile_id", ids)
        parts.append(part.set_column(part.schema.get_field_index("seq"), "seq", seq))
        k += 1
    return pa.concat_tables(parts).cast(PROFILE_CHANGES.schema)


@app.command()
def main(
    profiles: Annotated[int, typer.Option(help="Profiles the endpoint serves.")] = 1_000_000,
    people: Annotated[int, typer.Option(help="People in the world whose profiles are copied.")] = 2_000,
    repeat: Annotated[int, typer.Option(help="Runs per query and side.")] = 3,
) -> None:
    """A point and a segment query on customer_360: the endpoint (psycopg) beside DuckDB in process."""
    with tempfile.TemporaryDirectory(prefix="c360-sql-bench-") as tmp:
        work = Path(tmp)
        latest, now = real_profiles(work, people)
        table = copies(latest, profiles)
        lake = Location(str(work / "lake"))
        write_deltalake(lake.child(PROFILE_CHANGES.name).uri, table)
        engine = Engine(lake, load_offer_rules(), clock=lambda: now)
        started = time.perf_counter()
        with console.status(f"loading {table.num_rows:,} profiles"):
            engine.refresh()
        console.print(
            f"{latest.num_rows:,} real profiles copied to {table.num_rows:,}; the endpoint loaded them in "
            f"{time.perf_counter() - started:.1f} s"
        )
        ring = KeyRing([(*KEY, "reader", True)])
        endpoint = Endpoint(engine, ring, None, max_connections=4, timeout_s=600)
        local = engine.cursor(True)
        point_id = table["profile_id"][table.num_rows // 2].as_py()
        dsn = "host=127.0.0.1 dbname=c360 sslmode=disable user={} password={}".format(*KEY)
        with serving(endpoint) as port, psycopg.connect(f"{dsn} port={port}") as conn:
            runs = {
                ("point", "DuckDB in process"): lambda: local.execute(POINT, [point_id]).fetchall(),
                ("point", "endpoint (psycopg)"): lambda: conn.execute(
                    POINT.replace("$1", "%s"), [point_id]
                ).fetchall(),
                ("segment", "DuckDB in process"): lambda: local.execute(SEGMENT).fetchall(),
                ("segment", "endpoint (psycopg)"): lambda: conn.execute(SEGMENT).fetchall(),
            }
            results = {key: timed(run, repeat) for key, run in runs.items()}
    out = Table("query", "side", "rows", "first s", "best s", "endpoint / DuckDB", "bar")
    for (query, side), (first, best, rows) in results.items():
        base = results[(query, "DuckDB in process")]
        assert sorted(rows) == sorted(base[2]), f"{query}: the endpoint returned other rows"
        ratio = best / base[1]
        bar = "" if side.startswith("DuckDB") or query == "point" else (
            f"{'ok' if ratio <= RATIO_BAR else 'FAIL'} <= {RATIO_BAR:g}x"
        )  # fmt: skip
        out.add_row(query, side, f"{len(rows):,}", f"{first:.3f}", f"{best:.3f}", f"{ratio:.2f}", bar)
    console.print(out)
    console.print(f"command: python -m bench.sql_bench {shlex.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    app()
