"""Activation latency: from an event sent to Kafka to the segment change it causes on c360.segment_changes,
beside the event-to-profile freshness of the same run.

One run, on its own mongod and Tansu (free ports, temporary directory): `c360 activate run` as a process
of its own with two real-time segments (`shoppers`: lifetime_count(order) >= 1, `banking`:
count(transaction, 90d) >= 1); the real ingest loop in this process; a watcher process that consumes
c360.segment_changes and notes when each record arrives; then a paced producer (bench/ingest_bench.py's)
publishes a new world at `--rate` events/s (default 1,100/s: half the end-to-end ingest rate of
docs/BENCHMARKS.md) for `--seconds`.

Event to segment change = when the watcher received an `entered` record - the Kafka timestamp (the
producer's send time) of the first event that qualified its profile: its first order for `shoppers`,
its first transaction for `banking`, found by reading the source topics back and translating them as
ingest does. Freshness = record timestamp to the profile being durable in MongoDB (the ingest loop's own
measure, c360_event_to_profile_seconds). The activation process's CPU per profile change comes from /proc.

    .venv/bin/python -m bench.activation_bench --help
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pymongo import MongoClient
from rich.console import Console
from rich.table import Table

from bench.cpu import process_cpu_s
from bench.ingest_bench import _paced_producer, _percentile, _servers
from bench.topic_reader import from_start, read_until_idle
from c360.bootstrap import activation, ingest_loop
from c360.ingest_loop import BatchOutcome
from c360.publish import ensure_topics
from c360.settings import load_settings
from c360.world import TOPIC_ORDERS, TOPIC_TRANSACTIONS, TOPICS
from ingest.mappings import load_mapping_file
from ingest.records import SourceRecord, translate

console = Console()
app = typer.Typer(add_completion=False, rich_markup_mode=None)
SEGMENTS = {
    "shoppers": ("lifetime_count(order) >= 1", "order"),
    "banking": ("count(transaction, 90d) >= 1", "transaction"),
}
P99_BAR_S, ABOVE_FRESHNESS_BAR_S = 1.0, 0.5
SETTLED_S = 3.0
WARM_UP_S = 5.0


def _watch(bootstrap: str, topic: str, stop: Any, out: Any) -> None:
    """Child process: every record of `topic` from the start, with the wall time it arrived."""
    consumer = from_start(bootstrap, [topic], fetch_max_wait_ms=10)
    seen = []
    while not stop.is_set():
        for records in consumer.poll(timeout_ms=50).values():
            arrived = time.time()
            seen += [(arrived, r.value) for r in records if r.value is not None]
    consumer.close()
    out.put(seen)


@app.command()
def main(
    rate: Annotated[float, typer.Option(help="Events per second published.")] = 1_100.0,
    seconds: Annotated[float, typer.Option(help="How long the paced producer publishes.")] = 30.0,
    events_per_person: Annotated[float, typer.Option(help="Average events per person.")] = 12.0,
) -> None:
    """Measure event-to-segment-change p50/p99 beside event-to-profile freshness; prints a table."""
    command = f"python -m bench.activation_bench {shlex.join(sys.argv[1:])}".rstrip()
    with tempfile.TemporaryDirectory(prefix="c360-activation-bench-") as tmp:
        work = Path(tmp)
        with _servers(work, None, None, None) as (uri, bootstrap):
            segments_file = work / "segments.yaml"
            rules = [{"name": n, "rule": r} for n, (r, _) in SEGMENTS.items()]
            segments_file.write_text(yaml.safe_dump({"version": 1, "segments": rules}))
            settings = load_settings(
                mongo={"uri": uri, "database": "bench_activation"},
                kafka={
                    "bootstrap_servers": bootstrap,
                    "session_timeout_ms": 2_000,
                    "heartbeat_interval_ms": 300,
                },
                lake={"segments_file": segments_file},
            )
            ensure_topics(settings.kafka, list(TOPICS))
            env = {
                **os.environ,
                "C360_MONGO__URI": uri,
                "C360_MONGO__DATABASE": settings.mongo.database,
                "C360_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                "C360_LAKE__SEGMENTS_FILE": str(segments_file),
            }
            activate = subprocess.Popen(
                [sys.executable, "-m", "c360.cli", "activate", "run", "--quiet"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                result = _run(settings, bootstrap, uri, activate, rate, seconds, events_per_person)
            finally:
                activate.terminate()
                activate.wait(timeout=60)
            result["sweep"] = _sweep_rate(settings, uri)
    _report(result, command)


def _run(
    settings: Any,
    bootstrap: str,
    uri: str,
    activate: subprocess.Popen[bytes],
    rate: float,
    seconds: float,
    epp: float,
) -> dict[str, Any]:
    with MongoClient(uri) as client:
        positions = client[settings.mongo.database]["activation_positions"]
        deadline = time.monotonic() + 120
        with console.status("starting c360 activate run"):
            while positions.count_documents({}) < 2:
                if activate.poll() is not None:
                    raise RuntimeError(
                        activate.stderr.read().decode()[-2000:] if activate.stderr else "exited"
                    )
                assert time.monotonic() < deadline, "c360 activate run did not start"
                time.sleep(0.2)
    ctx = mp.get_context("spawn")
    stop, seen_q, reports = ctx.Event(), ctx.Queue(), ctx.Queue()
    watcher = ctx.Process(target=_watch, args=(bootstrap, "c360.segment_changes", stop, seen_q), daemon=True)
    watcher.start()
    fresh: list[float] = []
    cpu_before = process_cpu_s(activate.pid)
    with ingest_loop(settings, on_batch=lambda o: fresh.extend(_fresh(o))) as loop:
        warm = time.monotonic() + WARM_UP_S  # the group joined and partitions assigned before any send
        while time.monotonic() < warm:
            loop.step()
        producer = ctx.Process(
            target=_paced_producer, args=(bootstrap, "", rate, seconds, epp, 11, reports), daemon=True
        )
        producer.start()
        state: dict[str, Any] = {}
        with console.status(f"publishing at {rate:,.0f} events/s for {seconds:g} s"):
            while "done" not in state or loop.totals.records < state["ready"][0]:
                loop.step()
                try:
                    kind, *values = reports.get_nowait()
                    if kind == "error":
                        raise RuntimeError(f"paced producer failed: {values[0]}")
                    state[kind] = values
                except queue.Empty:
                    pass
        producer.join(timeout=10)
    time.sleep(SETTLED_S)  # the last profiles' segment changes
    cpu_s = process_cpu_s(activate.pid) - cpu_before
    stop.set()
    seen = seen_q.get(timeout=60)
    watcher.join(timeout=10)
    sent, elapsed = state["done"]
    triggers = _triggers(settings, bootstrap, uri)
    lags = []
    for arrived, value in seen:
        change = json.loads(value)
        if change.get("change") == "entered" and (change["profile_id"], change["segment"]) in triggers:
            lags.append(arrived - triggers[change["profile_id"], change["segment"]])
    with MongoClient(uri) as client:
        versions = sum(
            d.get("version", 0) for d in client[settings.mongo.database].profiles.find({}, {"version": 1})
        )
    return {
        "sent": sent,
        "achieved_rate": sent / elapsed,
        "fresh": sorted(fresh),
        "lags": sorted(lags),
        "entered": sum(1 for _, v in seen if json.loads(v).get("change") == "entered"),
        "cpu_s": cpu_s,
        "profile_versions": versions,
    }


def _sweep_rate(settings: Any, uri: str) -> tuple[int, float, float]:
    """Every live profile made due at once, then swept: (profiles, seconds, CPU seconds in this process)."""
    with MongoClient(uri) as client:
        profiles = client[settings.mongo.database].profiles
        live = {"merged_into": {"$exists": False}}
        n = profiles.update_many(
            live, {"$set": {"activation.next_boundary": datetime(2000, 1, 1, tzinfo=UTC)}}
        )
    with activation(settings) as process:
        started, cpu = time.monotonic(), time.process_time()
        while process.sweep():
            pass
        return n.modified_count, time.monotonic() - started, time.process_time() - cpu


def _fresh(outcome: BatchOutcome) -> list[float]:
    return list(outcome.freshness_s)


def _triggers(settings: Any, bootstrap: str, uri: str) -> dict[tuple[str, str], float]:
    """(profile id, segment) -> Kafka timestamp (s) of the first event that qualified the profile."""
    mappings = load_mapping_file(settings.ingest.mapping_file).for_topic()
    sent_at: dict[str, float] = {}
    for r in read_until_idle(bootstrap, [TOPIC_ORDERS, TOPIC_TRANSACTIONS]):
        event = translate(
            SourceRecord(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp),
            mappings,
            1_000_000,
        )
        if hasattr(event, "event_id"):
            sent_at[event.event_id] = r.timestamp / 1000
    first: dict[tuple[str, str], float] = {}
    with MongoClient(uri) as client:
        events = client[settings.mongo.database].events
        for segment, (_, kind) in SEGMENTS.items():
            for e in events.find({"type": kind}, {"profile_id": 1}):
                at = sent_at.get(e["_id"])
                key = (e["profile_id"], segment)
                if at is not None and at < first.get(key, float("inf")):
                    first[key] = at
    return first


def _report(result: dict[str, Any], command: str) -> None:
    fresh, lags = result["fresh"], result["lags"]
    table = Table("measure", "n", "p50 s", "p99 s", "max s")
    for name, values in (("event -> profile (freshness)", fresh), ("event -> segment_changes", lags)):
        table.add_row(
            name,
            f"{len(values):,}",
            *(f"{_percentile(values, p):.3f}" for p in (50, 99)),
            f"{values[-1]:.3f}",
        )
    console.print(f"{result['sent']:,} events published at {result['achieved_rate']:,.0f}/s")
    console.print(table)
    p99, fresh99 = _percentile(lags, 99), _percentile(fresh, 99)
    console.print(
        f"bars: p99 {p99:.3f} s < {P99_BAR_S:g} s: {'ok' if p99 < P99_BAR_S else 'FAIL'}; "
        f"p99 - freshness p99 = {p99 - fresh99:.3f} s <= {ABOVE_FRESHNESS_BAR_S:g} s: "
        f"{'ok' if p99 - fresh99 <= ABOVE_FRESHNESS_BAR_S else 'FAIL'}"
    )
    versions = result["profile_versions"]
    console.print(
        f"activation CPU: {result['cpu_s']:.1f} s for {versions:,} profile versions "
        f"({1000 * result['cpu_s'] / max(versions, 1):.2f} ms each); {result['entered']:,} entries"
    )
    swept, wall, cpu = result["sweep"]
    console.print(
        f"sweeper: {swept:,} due profiles re-evaluated in {wall:.2f} s ({swept / wall:,.0f}/s), "
        f"{1000 * cpu / max(swept, 1):.2f} ms CPU each"
    )
    console.print(f"command: {command}")


if __name__ == "__main__":
    app()
