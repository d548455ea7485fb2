"""Sync lag under the spine's ingest load: from a MongoDB change to its row committed in Delta Lake.

One run starts its own mongod (and Tansu, unused) on free ports in a temporary directory, generates a
demo world, and has a separate process write it through the real profile writer at `--rate` events/s
(default 2,200/s: the end-to-end ingest rate measured in docs/BENCHMARKS.md) in ingest-sized
transactions every 200 ms, while this process runs the sync (`LakeSync`) into a temporary lake. The lag
of a change = the moment its Delta commit returned - the change's MongoDB wallTime, over every change
streamed (snapshot rows excluded) until every stream has caught up, reported as p50/p99/max per table.
With `--sql`, the SQL endpoint's data (sql/engine.py, refreshed every `sql.refresh_seconds`) follows the
lake meanwhile, and every half second while the load runs it is sampled how far customer_360's profiles
trail MongoDB's: the newest `updated_at` among MongoDB's profiles minus the newest the endpoint holds.

    .venv/bin/python -m bench.sync_lag_bench --help
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from pymongo import MongoClient
from rich.console import Console
from rich.table import Table

from bench.cpu import CpuWindow, tree_pids
from bench.ingest_bench import _servers
from c360.bootstrap import lake_location
from c360.settings import load_settings
from c360.storage import Location
from c360.world import generate_world
from c360.world_events import world_events
from operational.store import Store
from operational.writer import ProfileWriter
from profiles.offers import load_offer_rules
from sql.engine import Engine
from sql.server import refreshing
from sync.runner import LakeSync
from sync.stream import BatchReport

console = Console()
app = typer.Typer(add_completion=False, rich_markup_mode=None)
TICK_S = 0.2  # the ingest loop's batch timeout: one transaction per tick
LAG_BAR_S = 5.0
SETTLED_S = 3.0
SAMPLE_S = 0.5  # how often --sql compares the endpoint's newest profile with MongoDB's


def _write(
    uri: str,
    database: str,
    people: int,
    events_per_person: float,
    rate: float,
    writing: Event,
    cpu: Synchronized,
) -> None:
    """The load: the world's events through the profile writer, paced to `rate`. `writing` is set when
    the first event is written, and `cpu` receives the CPU seconds the writing took (this process is gone
    before the parent could read it from /proc)."""
    events = world_events(generate_world(people=people, events_per_person=events_per_person, seed=7))
    per_tick = max(1, int(rate * TICK_S))
    with MongoClient(uri, tz_aware=True) as client:
        store = Store.connect(client, database)
        writer = ProfileWriter(store)
        writing.set()
        started, cpu_before = time.monotonic(), time.process_time()
        for tick, start in enumerate(range(0, len(events), per_tick)):
            time.sleep(max(0.0, started + tick * TICK_S - time.monotonic()))
            writer.apply(events[start : start + per_tick])
        cpu.value = time.process_time() - cpu_before


@contextmanager
def view_lag(store: Store, lake: Location, refresh_s: float, samples: list[float]) -> Iterator[None]:
    """While the block runs, the endpoint's data follows `lake`, and `samples` gets how far its newest
    profile trails MongoDB's newest (seconds between their `updated_at`), every SAMPLE_S."""
    engine, stop = Engine(lake, load_offer_rules()), threading.Event()

    def sample() -> None:
        cursor = engine.cursor(True)
        while not stop.wait(SAMPLE_S):
            newest = store.profiles.find_one({}, {"updated_at": 1}, sort=[("updated_at", -1)])
            (held,) = cursor.execute("SELECT max(updated_at) FROM c360_state").fetchall()[0]
            if newest is not None and held is not None:
                samples.append(max(0.0, (newest["updated_at"] - held).total_seconds()))

    sampler = threading.Thread(target=sample, name="view-lag")
    with refreshing(engine, refresh_s):
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join()


@app.command()
def main(
    people: Annotated[int, typer.Option(help="People in the generated world.")] = 10_000,
    events_per_person: Annotated[float, typer.Option(help="Average events per person.")] = 12.0,
    rate: Annotated[float, typer.Option(help="Events per second written to MongoDB.")] = 2_200.0,
    sql: Annotated[bool, typer.Option(help="Also sample how far the SQL endpoint trails MongoDB.")] = False,
) -> None:
    """Measure sync lag p50/p99 while MongoDB takes the ingest load; prints a table."""
    with tempfile.TemporaryDirectory(prefix="c360-sync-bench-") as tmp:
        work = Path(tmp)
        with _servers(work, None, None, None) as (uri, _kafka):
            settings = load_settings(
                mongo={"uri": uri, "database": "bench_sync"}, lake={"path": str(work / "lake")}
            )
            store = Store.open(uri, settings.mongo.database)
            try:
                store.ensure_indexes()
                lags: dict[str, list[float]] = {}
                counts: dict[str, int] = {}

                last_commit = [time.monotonic()]

                def record(report: BatchReport) -> None:
                    lags.setdefault(report.table, []).extend(report.lags_s)
                    counts[report.table] = counts.get(report.table, 0) + report.rows
                    last_commit[0] = time.monotonic()

                sync = LakeSync(store, settings.lake, record)
                stop = threading.Event()
                runner = threading.Thread(target=sync.run, args=(stop,))
                runner.start()
                ctx = mp.get_context("spawn")
                writing, writer_cpu = ctx.Event(), ctx.Value("d", 0.0)
                load = ctx.Process(
                    target=_write,
                    args=(uri, settings.mongo.database, people, events_per_person, rate, writing, writer_cpu),
                )
                view_lags: list[float] = []
                lake = lake_location(settings)
                following = (
                    view_lag(store, lake, settings.sql.refresh_seconds, view_lags) if sql else nullcontext()
                )
                with following:
                    load.start()
                    writing.wait()
                    window = _cpu_window()
                    load.join()
                    usage = window.stop(requests=1)  # CPU per "request" = the whole window's
                total = store.events.count_documents({})
                # Every event synced, then no commit for SETTLED_S: the other streams have caught up
                # too, so the changes written last are measured (stopping at once would drop them).
                while counts.get("events", 0) < total or time.monotonic() - last_commit[0] < SETTLED_S:
                    time.sleep(0.2)
                stop.set()
                runner.join()
            finally:
                store.close()
    out = Table("table", "rows", "lag p50 s", "lag p99 s", "lag max s", "bar")
    for table, values in sorted(lags.items()):
        p50, p99 = np.percentile(values, [50, 99])
        out.add_row(table, f"{counts[table]:,}", f"{p50:.2f}", f"{p99:.2f}", f"{max(values):.2f}",
                    f"{'ok' if p99 < LAG_BAR_S else 'FAIL'} p99 < {LAG_BAR_S:g} s")  # fmt: skip
    wrote_s = usage["wall_s"]  # from the first event written (the world is generated before it)
    console.print(f"{total:,} events written in {wrote_s:.0f} s ({total / wrote_s:,.0f}/s)")
    # Share of one core while the writer ran: a machine near 100% busy is saturated, and the sync's
    # lag then says how the cores were shared more than how fast it is.
    cores = {
        name[: -len("_cpu_us")]: v / 1e6 / usage["wall_s"]
        for name, v in usage.items()
        if name.endswith("_cpu_us")
    }
    cores["writer"] = writer_cpu.value / usage["wall_s"]
    shares = ", ".join(f"{name} {share:.0%}" for name, share in cores.items())
    console.print(
        f"CPU while writing (share of one core): {shares}; machine {usage['machine_busy_pct']:.0f}% busy"
        f" of {os.cpu_count()} cores, steal {usage['steal_s']} s"
    )
    console.print(out)
    if view_lags:
        p50, p99 = np.percentile(view_lags, [50, 99])
        verdict = "ok" if max(view_lags) <= LAG_BAR_S else "FAIL"
        console.print(
            f"customer_360 behind MongoDB while writing: p50 {p50:.2f} s, p99 {p99:.2f} s, max "
            f"{max(view_lags):.2f} s over {len(view_lags)} samples ({verdict}: at most {LAG_BAR_S:g} s)"
        )
    console.print(f"command: python -m bench.sync_lag_bench {shlex.join(sys.argv[1:])}".rstrip())


def _cpu_window() -> CpuWindow:
    """mongod and each of the sync's workers (named sync-<collection>), by their process names."""
    groups: dict[str, list[int]] = {}
    for pid in tree_pids(os.getpid()):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except FileNotFoundError:  # it ended after it was listed
            continue
        if name == "mongod" or name.startswith("sync-"):
            groups.setdefault(name, []).append(pid)
    return CpuWindow(groups).start()


if __name__ == "__main__":
    app()
