"""Profile read latency at a fixed request rate: REST GET /profiles/{id} and /profiles/lookup against raw
pymongo find_one on the same documents, in one run.

Starts its own mongod, bulk-loads N profiles (copies of documents the real writer built from a generated
world, inserted as pre-encoded BSON with new ids) and one customer_id identity each (its edge, and the
key on the profile that lookups find it by: operational/held_keys.py), then starts
`c360 serve` (uvicorn) in its own process and a load generator in another. The generator is open-loop:
request k is due at start + k/rate and its latency counts from then, so queueing is not hidden. The raw
phase runs the same way with pymongo's asyncio client (as many in flight as HTTP connections), so the
baseline is not a serial loop that queues behind itself. Debian's `wrk` is closed-loop (no fixed rate),
hence this generator. Each phase reports the CPU per request of the generator (to show it is not the
bottleneck), of the API's processes and of mongod, with the machine's busy share and hypervisor steal
(bench/cpu.py): a tail from our own saturation and one from a neighbour's load look different there.

    .venv/bin/python -m bench.profile_read_bench run --profiles 1000000 --rate 1000 --seconds 15
    .venv/bin/python -m bench.profile_read_bench run --help
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import bson
import typer
import uvloop
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, MongoClient
from rich.console import Console

from bench.cpu import CpuWindow, tree_pids
from c360.servers import LocalServers, settings_for_local
from c360.settings import load_settings
from c360.world import generate_world
from ingest.mappings import load_mapping_file
from ingest.records import SourceRecord, translate
from operational.store import Store
from operational.writer import ProfileWriter
from tests.conftest import _free_ports, _test_servers

app = typer.Typer(add_completion=False, help=__doc__)
console = Console()
KEY = "bench-reader-key-0123456789"
PLACEHOLDER = "p" + "f" * 20
CID_PLACEHOLDER = "BENCH-ffffffff"  # as long as _cid(i)
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CHUNK = 10_000
SLOW_S = 0.010  # the lookup bar's p99


@app.command()
def run(
    profiles: Annotated[int, typer.Option(help="Profiles to load.")] = 1_000_000,
    rate: Annotated[int, typer.Option(help="Requests per second, each phase.")] = 1_000,
    seconds: Annotated[float, typer.Option(help="Length of each phase.")] = 20.0,
    connections: Annotated[int, typer.Option(help="Keep-alive connections of the HTTP load generator.")] = 32,
    cache_gb: Annotated[float, typer.Option(help="mongod WiredTiger cache.")] = 2.0,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes of `c360 serve`.")] = 2,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Another checkout of c360 (a `git worktree add DIR COMMIT`): its `c360 serve` is measured "
            "first on the same data, so the API's CPU per request is compared within one run."
        ),
    ] = None,
) -> None:
    """Load, serve, and measure the phases; prints p50/p99 per phase and the bars."""
    started_at, load_before = datetime.now(UTC), os.getloadavg()
    console.print(f"load average before: {load_before}")
    home = Path(tempfile.mkdtemp(prefix="c360-read-bench-"))
    local = _test_servers(home / "servers") | {"mongo_cache_gb": cache_gb}
    base = load_settings(local=local, mongo={"database": "read_bench"})
    servers = LocalServers(base.local)
    servers.up()
    try:
        settings = settings_for_local(base)
        client = MongoClient(settings.mongo.uri, tz_aware=True)
        templates = _templates(Store.connect(client, "read_bench_templates"))
        started = time.perf_counter()
        # The store's indexes first, as in production: built by the API at start-up over 1M profiles
        # instead, they kept it from answering within a minute on a loaded machine.
        Store.connect(client, "read_bench").ensure_indexes()
        _bulk_load(client["read_bench"], templates, profiles)
        _settle(client["read_bench"], profiles, int(rate * seconds))
        size = statistics.median(len(t) for t in templates)
        console.print(
            f"loaded {profiles:,} profiles (median {size:,.0f} bytes) in {time.perf_counter() - started:.0f}s"
        )
        mongod = next(s.pid for s in servers.status() if s.name == "mongod")

        def phase(name: str, port: int, api: list[int]) -> dict[str, Any]:
            load = [sys.executable, "-m", "bench.profile_read_bench", "load", name, "--port", str(port),
                    "--uri", settings.mongo.uri, "--profiles", str(profiles), "--rate", str(rate),
                    "--seconds", str(seconds), "--connections", str(connections)]  # fmt: skip
            window = CpuWindow({"api": api, "mongod": [mongod] if mongod else []}).start()
            out = subprocess.run(load, check=True, capture_output=True, text=True).stdout
            result = json.loads(out) | window.stop(int(rate * seconds))
            console.print(f"{name:>22}: {result}")
            return result

        results = {}
        if baseline is not None:
            with _served(settings.mongo.uri, workers, baseline.resolve()) as (port, pids):
                for name in ("rest_get", "rest_lookup"):
                    results[f"baseline_{name}"] = phase(name, port, pids)
        with _served(settings.mongo.uri, workers, ROOT) as (port, pids):
            for name in ("raw_find_one", "rest_get", "rest_lookup"):
                results[name] = phase(name, port, pids)
        raw, get, lookup = results["raw_find_one"], results["rest_get"], results["rest_lookup"]
        ratio = get["p50_ms"] / raw["p50_ms"]
        console.print(
            f"bar 1: get p99 {get['p99_ms']} ms, lookup p99 {lookup['p99_ms']} ms (<= 10 ms at {rate}/s)"
        )
        console.print(f"bar 2: REST get p50 / raw find_one p50 = {ratio:.2f} (<= 3)")
        bars = {"get_p99_ms": get["p99_ms"], "lookup_p99_ms": lookup["p99_ms"],
                "p99_met": max(get["p99_ms"], lookup["p99_ms"]) <= 10,
                "get_p50_over_raw_p50": round(ratio, 3), "ratio_met": ratio <= 3}  # fmt: skip
        if baseline is not None:
            for name in ("rest_get", "rest_lookup"):
                share = results[name]["api_cpu_us"] / results[f"baseline_{name}"]["api_cpu_us"]
                bars[f"{name}_cpu_over_baseline"] = round(share, 3)
                console.print(f"bar 3: {name} API CPU {share:.2f} of the baseline's (<= 0.5)")
            bars["cpu_met"] = all(bars[f"{n}_cpu_over_baseline"] <= 0.5 for n in ("rest_get", "rest_lookup"))
        load_after = os.getloadavg()
        console.print(f"load average after: {load_after}")
        report = {
            "started_at": started_at.isoformat(),
            "code": _commit(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "parameters": {"profiles": profiles, "rate": rate, "seconds": seconds, "connections": connections,
                           "workers": workers, "cache_gb": cache_gb, "median_profile_bytes": size,
                           "baseline": None if baseline is None else _commit(baseline.resolve())},
            "phases": results,
            "bars": bars,
        }  # fmt: skip
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"profile-read-{started_at:%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(report, indent=2))
        console.print(f"written to {out}")
    finally:
        servers.down()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def _served(uri: str, workers: int, checkout: Path) -> Iterator[tuple[int, list[int]]]:
    """`c360 serve` of `checkout` (its own code first on the path) on a free port: (port, process ids)."""
    port = _free_ports(1)[0]
    keys = json.dumps([{"name": "bench", "key": KEY, "role": "reader", "pii": True}])
    env = {**os.environ, "C360_MONGO__URI": uri, "C360_MONGO__DATABASE": "read_bench", "C360_API__KEYS": keys}
    command = [sys.executable, "-m", "c360.cli", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, env=env, cwd=checkout)
    try:
        _wait_http(port)
        # The copies hold their own keys: a lookup answers the profile its customer id was loaded with.
        found = json.loads(asyncio.run(_get_once(port, f"/profiles/lookup?type=customer_id&value={_cid(7)}")))
        assert found["id"] == _pid(7), found["id"]
        yield port, tree_pids(server.pid)
    finally:
        server.terminate()
        server.wait(30)


@app.command()
def load(
    phase: Annotated[str, typer.Argument(help="raw_find_one, rest_get or rest_lookup")],
    port: Annotated[int, typer.Option()],
    uri: Annotated[str, typer.Option()],
    profiles: Annotated[int, typer.Option()],
    rate: Annotated[int, typer.Option()],
    seconds: Annotated[float, typer.Option()],
    connections: Annotated[int, typer.Option()] = 32,
) -> None:
    """One phase in this process (the load generator); prints its latency summary as JSON. On uvloop, as
    the API is: the generator shares the machine's two cores with it and mongod."""
    cpu = time.process_time()
    picks = _picks(profiles, int(rate * seconds))
    # A full collection in the generator held every in-flight reply back (raw find_one max 95 -> 20 ms
    # without it, docs/BENCHMARKS.md): its garbage is acyclic, so reference counting frees it anyway.
    gc.collect()
    gc.freeze()
    gc.disable()
    if phase == "raw_find_one":
        latencies = uvloop.run(_paced_find_one(uri, picks, rate, connections))
    else:
        paths = [
            f"/profiles/{_pid(i)}"
            if phase == "rest_get"
            else f"/profiles/lookup?type=customer_id&value={_cid(i)}"
            for i in picks
        ]
        latencies = uvloop.run(_paced_http(port, paths, rate, connections))
    # Whether the slow requests are spread out (our own queueing) or bunched in a few seconds (a stall).
    slow = [sum(t > SLOW_S for t in latencies[s : s + rate]) for s in range(0, len(latencies), rate)]
    latencies.sort()
    n = len(latencies)
    summary = {
        "requests": n,
        "p50_ms": round(latencies[n // 2] * 1000, 3),
        "p99_ms": round(latencies[int(n * 0.99)] * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
        "over_10ms_by_second": slow,
        # The generator's own CPU per request: far below 1/rate, or the generator is the bottleneck.
        "generator_cpu_us": round((time.process_time() - cpu) / n * 1e6),
    }
    print(json.dumps(summary))


def _commit(checkout: Path = ROOT) -> str:
    """The code measured: the commit, marked dirty when the worktree has changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain") else "")


def _pid(i: int) -> str:
    return f"p{i:020x}"


def _cid(i: int) -> str:
    return f"BENCH-{i:08d}"


def _templates(store: Store) -> list[bytes]:
    """Profiles the real writer built from a generated world, BSON-encoded with a placeholder id."""
    store.ensure_indexes()
    world = generate_world(people=300, events_per_person=25, seed=5, holdings=True)
    mappings = load_mapping_file().for_topic()
    events = [
        translate(SourceRecord(m.topic, 0, 0, m.key, m.value, 0), mappings, 1 << 20) for m in world.messages
    ]
    ProfileWriter(store).apply(events)  # type: ignore[arg-type]
    docs = store.profiles.find({"merged_into": {"$exists": False}, "identifiers": {"$exists": True}})
    # Each copy holds one key, the bench's own customer id (operational/held_keys.py).
    keys = {"identity_keys": [f"customer_id:{CID_PLACEHOLDER}"]}
    return [bson.encode({**d, "_id": PLACEHOLDER} | keys, codec_options=store.db.codec_options) for d in docs]


def _bulk_load(db: Any, templates: list[bytes], count: int) -> None:
    """Same-length id swaps in pre-encoded BSON: the insert rate is the server's, not the encoder's."""
    marker, cid_marker = PLACEHOLDER.encode(), CID_PLACEHOLDER.encode()
    for start in range(0, count, CHUNK):
        ids = range(start, min(start + CHUNK, count))
        docs = [
            RawBSONDocument(
                templates[i % len(templates)]
                .replace(marker, _pid(i).encode(), 1)
                .replace(cid_marker, _cid(i).encode(), 1)
            )
            for i in ids
        ]
        db.profiles.insert_many(docs, ordered=False)
        db.identities.insert_many(
            [{"_id": f"customer_id:{_cid(i)}", "profile_id": _pid(i)} for i in ids], ordered=False
        )


def _settle(db: Any, profiles: int, requests: int) -> None:
    """Flush the bulk load (no checkpoint during the phases) and read each phase's profiles once, so
    all three phases start from the same warm cache instead of the first one warming it for the others."""
    db.client.admin.command("fsync")
    ids = sorted({_pid(i) for i in _picks(profiles, requests)})
    for start in range(0, len(ids), CHUNK):
        batch = ids[start : start + CHUNK]
        db.profiles.find_raw_batches({"_id": {"$in": batch}}).to_list()
        cids = [f"customer_id:{_cid(int(i[1:], 16))}" for i in batch]
        db.profiles.find_raw_batches({"identity_keys": {"$in": cids}}, {"_id": 1}).to_list()


def _picks(profiles: int, requests: int) -> list[int]:
    """The profiles each phase reads, in order: the same for every phase."""
    rng = random.Random(7)
    return [rng.randrange(profiles) for _ in range(requests)]


def _wait_http(port: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            asyncio.run(_get_once(port, "/health"))
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the API did not start on port {port}")


async def _get_once(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request(path))
    body = await _response(reader)
    writer.close()
    return body


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {KEY}\r\n\r\n".encode()


async def _response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {head[:200]!r}")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


async def _paced_http(port: int, paths: list[str], rate: int, connections: int) -> list[float]:
    """GET each path over a pool of keep-alive connections."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    async def one(path: str) -> None:
        reader, writer = await pool.get()
        writer.write(_request(path))
        await _response(reader)
        pool.put_nowait((reader, writer))

    return await _open_loop([functools.partial(one, p) for p in paths], rate)


async def _paced_find_one(uri: str, picks: list[int], rate: int, connections: int) -> list[float]:
    """find_one by _id with pymongo's asyncio client, as many in flight as the HTTP phases may have."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True, maxPoolSize=connections)
    collection = client["read_bench"]["profiles"]
    await collection.find_one({"_id": _pid(picks[0])})  # connect outside the measurement

    async def one(i: int) -> None:
        assert await collection.find_one({"_id": _pid(i)}) is not None

    try:
        return await _open_loop([functools.partial(one, i) for i in picks], rate)
    finally:
        await client.close()


async def _open_loop(calls: list[Callable[[], Awaitable[None]]], rate: int) -> list[float]:
    """Call k is due at start + k/rate whether or not earlier ones have answered; its latency counts
    from that due time, so a server (or generator) that falls behind shows as queueing, not hidden.
    Latencies come back in call order."""
    latencies = [0.0] * len(calls)
    clock = time.perf_counter  # not loop.time(): uvloop's counts whole milliseconds

    async def timed(k: int, call: Callable[[], Awaitable[None]], due: float) -> None:
        await call()
        latencies[k] = clock() - due

    start = clock() + 0.2
    tasks = []
    for k, call in enumerate(calls):
        due = start + k / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(timed(k, call, due)))
    await asyncio.gather(*tasks)
    return latencies


if __name__ == "__main__":
    app()
