"""Ingest benchmark: the real pipeline's throughput against a plain Kafka consumer, and its freshness.

One run, on its own genuine servers (or given ones): generate a demo world, publish it, consume it with
a bare kafka-python consumer (the ceiling), ingest it with the real pipeline into a fresh database (and
check the result), then publish new messages at half the measured ingest rate and report how long each
took from send to durable commit. See docs/BENCHMARKS.md for what exactly is timed.

    .venv/bin/python -m bench.ingest_bench --help
"""

from __future__ import annotations

import gc
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.write_concern import WriteConcern
from rich.console import Console
from rich.table import Table

from bench.cpu import process_cpu_s
from c360.bootstrap import ingest_loop
from c360.collector import settle_heap
from c360.ingest_loop import BatchOutcome, IngestLoop, source_record
from c360.progress import progress_bar
from c360.publish import ensure_topics, publish
from c360.servers import LocalServers, ServerError, kafka_bootstrap, mongo_uri
from c360.settings import Settings, load_settings
from c360.world import DEFAULT_SEED, Message, generate_world
from ingest.mappings import DEFAULT_MAPPING_FILE, load_mapping_file
from ingest.records import translate

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
DOCS_FILE = ROOT / "docs" / "BENCHMARKS.md"
DOCS_END_MARKER = "<!-- ingest-results:end -->"
SINK_RATIO_BAR = 0.2  # end-to-end ingest at least a fifth of the raw sink's rate (issue 22)
FRESHNESS_BAR_S = 1.0  # p99 send-to-durable below one second at half the maximum rate
STALL_S = 120.0  # no progress for this long aborts the run
TICK_S = 0.010  # the paced producer sends a small burst every 10 ms

console = Console()
app = typer.Typer(add_completion=False, rich_markup_mode=None)


@dataclass(frozen=True)
class Plan:
    """What to run, as the command line says."""

    people: int
    events_per_person: float
    partitions: int
    seed: int
    freshness_seconds: float | None  # None: skip the freshness phase


@dataclass
class Result:
    date: str
    machine: str
    code: str  # git commit, "+dirty" when the working tree differs from it
    command: str
    people: int
    events: int
    batch_size: int
    partitions: int
    raw_msgs_per_s: float
    raw_wall_s: float
    # The least any sink that stores each record pays: kafka-python + json.loads + pymongo insert_many.
    raw_sink_msgs_per_s: float
    # The pipeline's own parsing, mapping and validation without any store: consume + translate().
    translate_msgs_per_s: float
    e2e_events_per_s: float
    e2e_wall_s: float
    e2e_events_per_s_by_tenth: list[int]  # does the rate hold up as the database grows?
    ratio: float  # e2e / raw consume
    sink_ratio: float  # e2e / raw sink: the bar
    # CPU per event during the end-to-end phase: this process (the ingest loop and its writer thread) and
    # mongod (None when the servers were given, not started here).
    ingest_cpu_us_per_event: int
    mongod_cpu_us_per_event: int | None
    check_profiles: tuple[int, int]  # (live profiles found, people expected)
    check_events: tuple[int, int]  # (events stored, messages published)
    dead_letters: int
    duplicates: int
    merges: int  # identity merges the ingest made (profiles found to be one person)
    freshness: dict[str, float] = field(default_factory=dict)

    @property
    def check_ok(self) -> bool:
        return (
            self.check_profiles[0] == self.check_profiles[1] and self.check_events[0] == self.check_events[1]
        )

    @property
    def bars(self) -> dict[str, bool]:
        bars = {"e2e >= 20% of raw sink": self.sink_ratio >= SINK_RATIO_BAR}
        if self.freshness:
            bars["freshness p99 < 1 s"] = self.freshness["p99_s"] < FRESHNESS_BAR_S
        return bars


class _Out(NamedTuple):
    topic: str
    key: bytes
    value: bytes


class _Renamed:
    """The world's messages on the run's own topic names (Sized, so publish shows a total)."""

    def __init__(self, messages: Sequence[Message], prefix: str) -> None:
        self._messages = messages
        self._prefix = prefix

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[_Out]:
        prefix = self._prefix
        return (_Out(prefix + m.topic, m.key, m.value) for m in self._messages)


@app.command()
def main(
    people: Annotated[int, typer.Option(help="People in the generated world.")] = 100_000,
    events_per_person: Annotated[
        float, typer.Option(help="Average messages per person; people x this = N messages.")
    ] = 10.0,
    batch_size: Annotated[
        int | None, typer.Option(help="Ingest batch size (and raw max_poll_records); default: settings.")
    ] = None,
    partitions: Annotated[int, typer.Option(help="Partitions per topic.")] = 3,
    freshness_seconds: Annotated[
        float, typer.Option(help="How long the paced producer publishes at half the measured e2e rate.")
    ] = 60.0,
    skip_freshness: Annotated[
        bool, typer.Option("--skip-freshness", help="Skip the freshness phase.")
    ] = False,
    mongo_uri_: Annotated[
        str | None,
        typer.Option("--mongo-uri", help="Use this MongoDB (replica set) instead of starting one."),
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Use this Kafka bootstrap address instead of starting a broker.")
    ] = None,
    mongo_cache_gb: Annotated[
        float | None, typer.Option(help="WiredTiger cache of the mongod started here; default: settings.")
    ] = None,
    seed: Annotated[int, typer.Option(help="World seed (the freshness world uses seed + 1).")] = DEFAULT_SEED,
    docs: Annotated[
        bool, typer.Option("--docs/--no-docs", help="Also append the result row to docs/BENCHMARKS.md.")
    ] = False,
) -> None:
    """Measure raw Kafka consume rate, end-to-end ingest rate (and their ratio), and freshness.

    Starts its own mongod and Tansu broker on free ports in a temporary directory and stops them at the
    end, unless both --mongo-uri and --bootstrap are given. Every run uses its own topics (prefixed
    bench-<run>.), consumer groups and database, and removes them at the end.
    """
    if (mongo_uri_ is None) != (bootstrap is None):
        raise typer.BadParameter("give both --mongo-uri and --bootstrap, or neither")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the servers
    run = uuid.uuid4().hex[:8]
    command = f"python -m bench.ingest_bench {shlex.join(sys.argv[1:])}".rstrip()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="c360-bench-")))
        uri, kafka, mongod = stack.enter_context(_servers(work, mongo_uri_, bootstrap, mongo_cache_gb))
        prefix = f"bench-{run}."
        mapping_file, topics = _prefixed_mapping(prefix, work / "mappings.yaml")
        settings = load_settings(
            mongo={"uri": uri, "database": f"bench_{run}"},
            kafka={
                "bootstrap_servers": kafka,
                "group_id": f"bench-{run}-ingest",
                "topics": topics,
                "dead_letter_topic": f"{prefix}deadletter",
            },
            ingest={"mapping_file": mapping_file}
            | ({"batch_size": batch_size} if batch_size is not None else {}),
        )
        stack.callback(_cleanup, settings, [*topics, settings.kafka.dead_letter_topic])
        plan = Plan(
            people, events_per_person, partitions, seed, None if skip_freshness else freshness_seconds
        )
        result = _run(settings, prefix, plan, command, mongod)
    _report(result, docs)
    if not result.check_ok:
        raise typer.Exit(1)


def _run(settings: Settings, prefix: str, plan: Plan, command: str, mongod: int | None) -> Result:
    topics = settings.kafka.topics
    people, events_per_person = plan.people, plan.events_per_person
    with console.status(f"generating {people:,} people x {events_per_person:g} events"):
        world = generate_world(people=people, events_per_person=events_per_person, seed=plan.seed)
    n, n_people = len(world.messages), len(world.people)
    console.print(f"world: {n_people:,} people, {n:,} messages")
    ensure_topics(settings.kafka, [*topics, settings.kafka.dead_letter_topic], plan.partitions)
    publish(_Renamed(world.messages, prefix), settings.kafka)
    del world  # a million live objects would slow every garbage collection during the ingest
    gc.collect()

    raw_rate, raw_wall = _raw_consume(settings, topics, n)
    console.print(f"raw consume: {raw_rate:,.0f} msg/s")
    with MongoClient(settings.mongo.uri) as client:
        scratch = client[f"{settings.mongo.database}_rawsink"]
        sink_rate, _ = _raw_consume(settings, topics, n, sink=_raw_sink(scratch["records"]), label="raw sink")
        client.drop_database(scratch.name)
    console.print(f"raw sink (consume + json.loads + insert_many): {sink_rate:,.0f} msg/s")
    translate_rate, _ = _raw_consume(settings, topics, n, sink=_translator(settings), label="translate")
    console.print(f"consume + translate (no store): {translate_rate:,.0f} msg/s")

    commits: list[tuple[float, int]] = []  # (monotonic time of the commit, records in the batch)
    fresh: list[float] = []
    collecting = False  # set for the freshness phase

    def on_batch(outcome: BatchOutcome) -> None:
        commits.append((time.monotonic(), outcome.records))
        if collecting:
            fresh.extend(outcome.freshness_s)

    with ingest_loop(settings, on_batch=on_batch) as loop:
        settle_heap()  # as `c360 ingest run` does
        entered = time.monotonic()
        cpu_before, mongod_before = time.process_time(), process_cpu_s(mongod) if mongod else 0.0
        with progress_bar() as bar:
            task = bar.add_task("ingesting", total=n)
            _step_until(
                loop,
                lambda: loop.totals.records >= n,
                lambda: bar.update(task, completed=loop.totals.records),
            )
        (first_at, first_records), last_at = commits[0], commits[-1][0]
        ingest_cpu = (time.process_time() - cpu_before) / n * 1e6
        mongod_cpu = (process_cpu_s(mongod) - mongod_before) / n * 1e6 if mongod else None
        e2e_rate = (n - first_records) / (last_at - first_at)
        tenths = _rate_by_tenth(commits, n)
        console.print(f"end-to-end ingest: {e2e_rate:,.0f} events/s; by tenth of N: {tenths}")
        found = _counts(settings)
        result = Result(
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            machine=_machine(),
            code=_code_version(),
            command=command,
            people=n_people,
            events=n,
            batch_size=settings.ingest.batch_size,
            partitions=plan.partitions,
            raw_msgs_per_s=raw_rate,
            raw_wall_s=raw_wall,
            raw_sink_msgs_per_s=sink_rate,
            translate_msgs_per_s=translate_rate,
            e2e_events_per_s=e2e_rate,
            e2e_wall_s=last_at - entered,
            e2e_events_per_s_by_tenth=tenths,
            ratio=e2e_rate / raw_rate,
            sink_ratio=e2e_rate / sink_rate,
            ingest_cpu_us_per_event=round(ingest_cpu),
            mongod_cpu_us_per_event=None if mongod_cpu is None else round(mongod_cpu),
            check_profiles=(found[0], n_people),
            check_events=(found[1], n),
            dead_letters=loop.totals.dead_letters,
            duplicates=loop.totals.duplicates,
            merges=found[2],
        )
        if plan.freshness_seconds is not None:
            collecting = True
            result.freshness = _freshness(loop, settings, prefix, plan, 0.5 * e2e_rate, fresh)
    return result


def _rate_by_tenth(commits: list[tuple[float, int]], n: int) -> list[int]:
    """The commit rate over each tenth of the N records (the first batch only starts the clock)."""
    rates: list[int] = []
    done = commits[0][1]
    mark_at, mark_done = commits[0][0], done
    for at, records in commits[1:]:
        done += records
        if done >= n * (len(rates) + 1) / 10 or done >= n:
            rates.append(round((done - mark_done) / (at - mark_at)))
            mark_at, mark_done = at, done
    return rates


def _step_until(loop: IngestLoop, done: Callable[[], bool], tick: Callable[[], None]) -> None:
    """Step the ingest loop until `done()`; fail when no record is committed for STALL_S seconds."""
    seen, moved = loop.totals.records, time.monotonic()
    while not done():
        loop.step()
        tick()
        if loop.totals.records != seen:
            seen, moved = loop.totals.records, time.monotonic()
        elif time.monotonic() - moved > STALL_S:
            raise RuntimeError(f"ingest stalled at {seen:,} records for {STALL_S:.0f}s")


def _raw_sink(collection: Collection) -> Callable[[list[ConsumerRecord]], None]:
    """Store each record's JSON as one document: no mapping, no profile, no transaction, no index."""
    majority = collection.with_options(write_concern=WriteConcern("majority"))

    def sink(records: list[ConsumerRecord]) -> None:
        majority.insert_many([json.loads(r.value) for r in records], ordered=False)

    return sink


def _translator(settings: Settings) -> Callable[[list[ConsumerRecord]], None]:
    """Each record through the ingest loop's translate(): JSON, mapping, normalization, the event model."""
    mappings = load_mapping_file(settings.ingest.mapping_file).for_topic()
    limit = settings.ingest.max_message_bytes

    def sink(records: list[ConsumerRecord]) -> None:
        for r in records:
            translate(source_record(r), mappings, limit)

    return sink


def _raw_consume(
    settings: Settings,
    topics: list[str],
    n: int,
    sink: Callable[[list[ConsumerRecord]], None] | None = None,
    label: str = "raw consume",
) -> tuple[float, float]:
    """A bare consumer with the pipeline's fetch settings, handing each poll to `sink` when given;
    (msgs/s after the first poll, wall s with join)."""
    kafka = settings.kafka
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"{kafka.group_id}-{label.replace(' ', '-')}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        max_poll_records=settings.ingest.batch_size,
        max_partition_fetch_bytes=max(settings.ingest.max_message_bytes * 2, 1 << 20),
    )
    count = first = 0
    started = time.monotonic()
    first_at = moved = 0.0
    try:
        with progress_bar() as bar:
            task = bar.add_task(label, total=n)
            while count < n:
                records = [r for batch in consumer.poll(timeout_ms=1000).values() for r in batch]
                if records and sink is not None:
                    sink(records)
                got = len(records)
                now = time.monotonic()
                if got and not first:
                    first, first_at = got, now
                if got:
                    count, moved = count + got, now
                    bar.update(task, completed=count)
                elif now - (moved or started) > STALL_S:
                    raise RuntimeError(f"{label} stalled at {count:,} of {n:,} messages")
    finally:
        consumer.close(autocommit=False)
    return (count - first) / (moved - first_at), moved - started


def _freshness(
    loop: IngestLoop, settings: Settings, prefix: str, plan: Plan, rate: float, fresh: list[float]
) -> dict[str, float]:
    """Ingest while another process publishes new messages at `rate`; percentiles of send-to-durable."""
    assert plan.freshness_seconds is not None
    n, before = loop.totals.records, (loop.totals.duplicates, loop.totals.dead_letters)
    ctx = mp.get_context("spawn")  # a clean process: no inherited threads, no copy of our heap
    reports: Any = ctx.Queue()
    world = (plan.events_per_person, plan.seed + 1)
    args = (settings.kafka.bootstrap_servers, prefix, rate, plan.freshness_seconds, *world, reports)
    producer = ctx.Process(target=_paced_producer, args=args, name="bench-producer", daemon=True)
    producer.start()
    state: dict[str, Any] = {}
    try:
        with progress_bar() as bar:
            task = bar.add_task(f"freshness @ {rate:,.0f}/s", total=None)

            def tick() -> None:
                while True:
                    try:
                        kind, *values = reports.get_nowait()
                    except queue.Empty:
                        break
                    if kind == "error":
                        raise RuntimeError(f"paced producer failed: {values[0]}")
                    state[kind] = values
                    if kind == "ready":
                        bar.update(task, total=values[0])
                if not producer.is_alive() and "done" not in state and reports.empty():
                    raise RuntimeError(f"paced producer exited with code {producer.exitcode}")
                bar.update(task, completed=loop.totals.records - n)

            def done() -> bool:
                return "done" in state and loop.totals.records >= n + state["ready"][0]

            _step_until(loop, done, tick)
    finally:
        producer.join(timeout=10)
        if producer.is_alive():
            producer.kill()
    sent, elapsed = state["done"]
    ordered = sorted(fresh)
    return {
        "target_rate": rate,
        "achieved_rate": sent / elapsed,
        "messages": sent,
        "p50_s": _percentile(ordered, 50),
        "p95_s": _percentile(ordered, 95),
        "p99_s": _percentile(ordered, 99),
        "max_s": ordered[-1],
        "duplicates": loop.totals.duplicates - before[0],
        "dead_letters": loop.totals.dead_letters - before[1],
    }


def _paced_producer(
    bootstrap: str,
    prefix: str,
    rate: float,
    seconds: float,
    events_per_person: float,
    seed: int,
    reports: Any,
) -> None:
    """Child process: a new world (other seed), published in bursts every 10 ms at `rate` messages/s.

    Transaction and order ids count up from zero in every world; they are renamed so these events are
    new, not duplicates. Other identifiers (common e-mail addresses, a few customer numbers) may match
    existing people, so fresh traffic lands on existing profiles and new ones, as real traffic does.
    """
    try:
        wanted = max(int(rate * seconds), 1)
        world = generate_world(
            people=math.ceil(wanted * 1.2 / events_per_person) + 10,
            events_per_person=events_per_person,
            seed=seed,
        )
        messages = [
            (
                prefix + m.topic,
                m.key,
                m.value.replace(b'"txn_id":"TX-', b'"txn_id":"TXF-').replace(
                    b'"order_id":"ORD-', b'"order_id":"ORDF-'
                ),
            )
            for m in world.messages[:wanted]
        ]
        del world
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=2)
        reports.put(("ready", len(messages)))
        start = time.monotonic()
        sent = 0
        for tick in range(1, math.ceil(len(messages) / (rate * TICK_S)) + 2):
            due = min(len(messages), round(tick * TICK_S * rate))
            for topic, key, value in messages[sent:due]:
                producer.send(topic, key=key, value=value, timestamp_ms=int(time.time() * 1000))
            sent = max(sent, due)
            if sent == len(messages):
                break
            time.sleep(max(start + tick * TICK_S - time.monotonic(), 0))
        elapsed = time.monotonic() - start
        producer.flush()
        producer.close()
        reports.put(("done", sent, elapsed))
    except BaseException as exc:
        reports.put(("error", repr(exc)))
        raise


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def _counts(settings: Settings) -> tuple[int, int, int]:
    """(live profiles, stored events, identity merges) in the run's database."""
    with MongoClient(settings.mongo.uri) as client:
        db = client[settings.mongo.database]
        live = db.profiles.count_documents({"merged_into": {"$exists": False}})
        return live, db.events.count_documents({}), db.identity_events.count_documents({"kind": "merge"})


@contextmanager
def _servers(
    work: Path, uri: str | None, bootstrap: str | None, cache_gb: float | None
) -> Iterator[tuple[str, str, int | None]]:
    """The given servers, or a private mongod + Tansu on free ports, stopped and deleted afterwards; with
    the mongod's process id when it was started here."""
    if uri is not None and bootstrap is not None:
        yield uri, bootstrap, None
        return
    mongo_port, kafka_port = _free_ports(2)
    local_overrides: dict[str, Any] = {
        "home": work / "servers",
        "mongo_port": mongo_port,
        "kafka_port": kafka_port,
    }
    if cache_gb is not None:
        local_overrides["mongo_cache_gb"] = cache_gb
    local = load_settings(local=local_overrides).local
    servers = LocalServers(local)
    try:
        with console.status("starting mongod and Tansu"):
            try:
                servers.up()
            except ServerError as exc:  # seen: a start-up check reading mongod's pid file mid-rewrite
                console.print(f"[yellow]servers did not start ({str(exc).splitlines()[0]}); retrying once")
                servers.up()
        mongod = next((s.pid for s in servers.status() if s.name == "mongod"), None)
        yield mongo_uri(local), kafka_bootstrap(local), mongod
    finally:
        servers.down()
        _kill_strays(local.home)
        shutil.rmtree(local.home, ignore_errors=True)


def _kill_strays(home: Path) -> None:
    """Safety net: kill processes still running with or logging into this run's server home.

    Seen once: a failed start (mongod's pid file read while mongod rewrote it) orphaned a broker.
    """
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace")
            stdout = os.readlink(proc / "fd" / "1") if (proc / "fd" / "1").exists() else ""
            if str(home) in argv or stdout.startswith(str(home)):
                os.kill(int(proc.name), signal.SIGKILL)
                console.print(f"[yellow]killed stray server process {proc.name}: {argv[:80]!r}")
        except OSError:
            continue


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _prefixed_mapping(prefix: str, path: Path) -> tuple[Path, list[str]]:
    """The default mapping file with every topic renamed to the run's own topic; (file, topics)."""
    mapping = yaml.safe_load(DEFAULT_MAPPING_FILE.read_text())
    entries = mapping["sources"] + mapping.get("tables", [])
    for entry in entries:
        entry["topic"] = prefix + entry["topic"]
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return path, [entry["topic"] for entry in entries]


def _cleanup(settings: Settings, topics: list[str]) -> None:
    """Drop the run's database and topics (matters only on servers this run did not start)."""
    try:
        with MongoClient(settings.mongo.uri, serverSelectionTimeoutMS=2000) as client:
            client.drop_database(settings.mongo.database)
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
        try:
            admin.delete_topics([t for t in topics if t in set(admin.list_topics())])
        finally:
            admin.close()
    except Exception as exc:  # never hide the run's own outcome behind a cleanup failure
        console.print(f"[yellow]cleanup incomplete: {exc!r}")


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else "MemTotal: 0 kB"
    memory_gb = int(meminfo.split("MemTotal:", 1)[1].split()[0]) / 1024**2
    return f"{len(os.sched_getaffinity(0))} cores, {model}, {memory_gb:.0f} GB RAM"


def _code_version() -> str:
    """The commit the measured code is at; read-only git calls (no index refresh, no lock)."""
    git = ["git", "--no-optional-locks", "-C", str(ROOT)]
    try:
        sha = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        clean = subprocess.run(
            [*git, "diff", "--quiet", "HEAD", "--", "c360", "ingest", "operational"]
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha.stdout.strip() + ("" if clean == 0 else "+dirty")


def _report(result: Result, docs: bool) -> None:
    fresh = result.freshness
    table = Table(title=f"c360 ingest benchmark: {result.events:,} events, {result.people:,} people")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("bar")
    table.add_row("raw consume (kafka-python)", f"{result.raw_msgs_per_s:,.0f} msg/s", "")
    sink = f"{result.raw_sink_msgs_per_s:,.0f} msg/s"
    table.add_row("raw sink (+ json.loads + pymongo insert_many)", sink, "")
    table.add_row("consume + translate (no store)", f"{result.translate_msgs_per_s:,.0f} msg/s", "")
    table.add_row("end-to-end ingest", f"{result.e2e_events_per_s:,.0f} events/s", "")
    table.add_row("ratio e2e / raw consume", f"{result.ratio:.1%}", "")
    ok = _bar(result.sink_ratio >= SINK_RATIO_BAR, ">= 20%")
    table.add_row("ratio e2e / raw sink", f"{result.sink_ratio:.1%}", ok)
    mongod_cpu = "-" if result.mongod_cpu_us_per_event is None else f"{result.mongod_cpu_us_per_event:,.0f}"
    table.add_row(
        "CPU per event: ingest / mongod", f"{result.ingest_cpu_us_per_event:,.0f} / {mongod_cpu} µs", ""
    )
    if fresh:
        table.add_row(
            "freshness rate (target, achieved)",
            f"{fresh['target_rate']:,.0f} / {fresh['achieved_rate']:,.0f} msg/s",
            "",
        )
        for key in ("p50_s", "p95_s", "p99_s", "max_s"):
            ok = _bar(fresh[key] < FRESHNESS_BAR_S, "< 1 s") if key == "p99_s" else ""
            table.add_row(f"freshness {key[:-2]}", f"{fresh[key] * 1000:,.0f} ms", ok)
    live, people = result.check_profiles
    stored, n = result.check_events
    table.add_row("live profiles / people", f"{live:,} / {people:,}", _bar(live == people, "equal"))
    table.add_row("events stored / published", f"{stored:,} / {n:,}", _bar(stored == n, "equal"))
    table.add_row("dead letters, duplicates", f"{result.dead_letters:,}, {result.duplicates:,}", "")
    table.add_row("identity merges", f"{result.merges:,}", "")
    console.print(table)
    console.print(
        f"machine: {result.machine}; code {result.code}; "
        f"batch size {result.batch_size}, {result.partitions} partitions"
    )

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"ingest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(asdict(result) | {"bars": result.bars, "check_ok": result.check_ok}, indent=2))
    console.print(f"result: {out.relative_to(ROOT)}")
    if docs:
        _append_docs_row(result)


def _bar(ok: bool, text: str) -> str:
    return f"[green]pass ({text})" if ok else f"[red]FAIL ({text})"


def _append_docs_row(result: Result) -> None:
    """Add one row to the results table in docs/BENCHMARKS.md (inside its markers)."""
    text = DOCS_FILE.read_text() if DOCS_FILE.exists() else ""
    if DOCS_END_MARKER not in text:
        console.print(f"[yellow]{DOCS_FILE} has no {DOCS_END_MARKER} marker; results not recorded there")
        return
    fresh = result.freshness
    freshness = "skipped"
    if fresh:
        p50, p99, rate = fresh["p50_s"] * 1000, fresh["p99_s"] * 1000, fresh["achieved_rate"]
        freshness = f"{p50:,.0f} / {p99:,.0f} ms @ {rate:,.0f}/s"
    bars = ", ".join(("pass" if ok else "FAIL") + f" {name}" for name, ok in result.bars.items())
    check = "ok" if result.check_ok else "MISMATCH"
    mongod_cpu = "-" if result.mongod_cpu_us_per_event is None else f"{result.mongod_cpu_us_per_event:,}"
    row = (
        f"| {result.date} | {result.machine} | {result.code} | `{result.command}` | {result.events:,} | "
        f"{result.raw_sink_msgs_per_s:,.0f} | {result.e2e_events_per_s:,.0f} | {result.sink_ratio:.1%} | "
        f"{result.ingest_cpu_us_per_event:,} / {mongod_cpu} | {freshness} | {bars}; check {check} |\n"
    )
    DOCS_FILE.write_text(text.replace(DOCS_END_MARKER, row + DOCS_END_MARKER, 1))
    console.print(f"recorded in {DOCS_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    app()
