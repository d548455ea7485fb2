"""Identity-resolution benchmark: streaming matching accuracy on FEBRL4 and FEBRL3 against Splink in the
same run, and incremental matching throughput on MongoDB with 100k profiles already resolved.

FEBRL: records are shuffled, their ids replaced (bench/febrl.py), the model estimated from the records
without labels, then every record fed one at a time through the streaming resolver; pairwise precision,
recall and F1 against the true links. Splink (the `bench` extra) runs on the same records. Throughput:
a private mongod (or --mongo-uri), N person records resolved into the MongoDB blocking index, then new
records (typo'd sightings of known people and new people) matched in micro-batches and one at a time.
The identity world (c360/identity_world.py) goes through the real writer and matcher first: precision and
recall of its final profiles against the ground truth, and false merges per hard case.

    .venv/bin/python -m bench.identity_bench --help
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from random import Random
from typing import Annotated, Any

import typer
from pymongo import MongoClient

from bench.febrl import FEBRL_SCHEMA, cluster_pairs, load, score
from c360.identity_world import generate_identity_world, person_records, profile_accuracy
from c360.servers import LocalServers, mongo_uri
from c360.settings import IdentitySettings, load_settings
from identity.matching.estimate import estimate
from identity.matching.resolver import MemoryIndex, StreamingResolver
from identity.matching.schema import PERSON_SCHEMA
from identity.rules import IdentityRules
from operational.match_store import MatchService, MongoIndex
from operational.reads import ProfileReader
from operational.resolving_writer import ResolvingWriter
from operational.store import Store
from operational.writer import ProfileWriter

app = typer.Typer(add_completion=False)
RESULTS = Path("bench/results")


def febrl_run(name: str, rules: IdentitySettings) -> dict[str, Any]:
    data = load(name)
    records = list(data.records.items())
    started = time.perf_counter()
    model = estimate([r for _, r in records], FEBRL_SCHEMA)
    trained = time.perf_counter() - started
    resolver = StreamingResolver(model, MemoryIndex(), rules.join_weight, rules.review_weight)
    started = time.perf_counter()
    clusters = {rid: resolver.resolve(rid, record)[0] for rid, record in records}
    streamed = time.perf_counter() - started
    result = score(cluster_pairs(clusters, data), data.truth)
    return {
        "records": len(records),
        "estimate_s": trained,
        "records_per_s": len(records) / streamed,
    } | asdict(result)


def splink_run(name: str) -> dict[str, Any]:
    from bench.splink_reference import run_splink

    result, seconds = run_splink(load(name))
    return {"seconds": seconds} | asdict(result)


@contextmanager
def _mongo(uri: str | None) -> Iterator[str]:
    """The given MongoDB, or a private mongod on free ports, stopped and deleted afterwards."""
    if uri is not None:
        yield uri
        return
    home = Path(tempfile.mkdtemp(prefix="c360-idbench-"))
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    local = load_settings(local={"home": home, "mongo_port": ports[0], "kafka_port": ports[1]}).local
    servers = LocalServers(local)
    try:
        servers.up()
        yield mongo_uri(local)
    finally:
        servers.down()
        shutil.rmtree(home, ignore_errors=True)


def throughput_run(uri: str, profiles: int, new: int, batch: int, rules: IdentitySettings) -> dict[str, Any]:
    rows = list(person_records(profiles + new, seed=5))
    known, fresh = rows[:profiles], rows[profiles:]
    rng = Random(5)
    # Estimated, without labels, from what a stream holds: customers and typo'd sightings of some of them.
    sample = rng.sample(known, min(10_000, profiles))
    model = estimate([record for _, clean, typo in sample for record in (clean, typo)], PERSON_SCHEMA)
    client = MongoClient(uri, tz_aware=True)
    store = Store.connect(client, f"idbench_{os.getpid()}")
    try:
        index = MongoIndex(store)
        index.ensure_indexes()
        resolver = StreamingResolver(model, index, rules.join_weight, rules.review_weight)
        started = time.perf_counter()
        for start in range(0, profiles, 2_000):
            resolver.resolve_batch([(f"crm-{i}", clean) for i, clean, _ in known[start : start + 2_000]])
        preload = time.perf_counter() - started
        # New sightings: half typo'd point-of-sale records of known people, half new people.
        stream = [(f"pos-{i}", typo, f"crm-{i}") for i, _, typo in rng.sample(known, new // 2)]
        stream += [(f"crm-{i}", clean, None) for i, clean, _ in fresh[: new - len(stream)]]
        rng.shuffle(stream)
        started = time.perf_counter()
        outcomes = []
        for start in range(0, len(stream), batch):
            chunk = stream[start : start + batch]
            outcomes += resolver.resolve_batch([(rid, rec) for rid, rec, _ in chunk])
        batched = time.perf_counter() - started
        singles = [(f"one-{i}", typo) for i, _, typo in rng.sample(known, 1_000)]
        started = time.perf_counter()
        for rid, record in singles:
            resolver.resolve(rid, record)
        single = time.perf_counter() - started
        joined_right = sum(c == want for (_, _, want), (c, _) in zip(stream, outcomes, strict=True) if want)
        joined_wrong = sum(
            d.outcome == "join" for (_, _, want), (_, d) in zip(stream, outcomes, strict=True) if not want
        )
        return {
            "profiles_resolved": store.db["match_records"].estimated_document_count()
            - len(stream)
            - len(singles),
            "preload_records_per_s": profiles / preload,
            "batch": batch,
            "records_per_s_batched": len(stream) / batched,
            "records_per_s_one_at_a_time": len(singles) / single,
            "typo_sightings_joined": joined_right / (len(stream) // 2 or 1),
            "new_people_wrongly_joined": joined_wrong,
        }
    finally:
        client.drop_database(store.db.name)
        client.close()


def world_run(uri: str, people: int, rules: IdentitySettings) -> dict[str, Any]:
    """The identity world through the real writer and matcher, scored against its ground truth."""
    world = generate_identity_world(people, seed=13)
    client = MongoClient(uri, tz_aware=True)
    store = Store.connect(client, f"idworld_{os.getpid()}")
    try:
        store.ensure_indexes()
        model = estimate(list(world.records.values()), PERSON_SCHEMA)
        matcher = MatchService(store, model, rules.join_weight, rules.review_weight)
        matcher.ensure_indexes()
        writer = ResolvingWriter(ProfileWriter(store, rules=IdentityRules.from_settings(rules)), matcher)
        for start in range(0, len(world.events), 500):
            writer.apply(world.events[start : start + 500])
        reader = ProfileReader(store)
        placed = {d["_id"]: reader.live_id(d["profile_id"]) for d in store.events.find({}, {"profile_id": 1})}
        accuracy = profile_accuracy(world, placed)
        hard = {kind: len(pairs) for kind, pairs in world.hard_pairs.items()}
        reviews = store.db["review_items"].count_documents({})
        return asdict(accuracy) | {"events": len(world.events), "hard_pairs": hard, "review_items": reviews}
    finally:
        client.drop_database(store.db.name)
        client.close()


@app.command()
def main(
    profiles: Annotated[int, typer.Option(help="Profiles resolved before throughput is measured")] = 100_000,
    new: Annotated[int, typer.Option(help="New records matched in micro-batches")] = 20_000,
    batch: Annotated[int, typer.Option(help="Micro-batch size of the throughput run")] = 500,
    mongo_uri_: Annotated[str | None, typer.Option("--mongo-uri", help="Use this MongoDB")] = None,
    skip_splink: Annotated[bool, typer.Option(help="Without the Splink reference")] = False,
    world_people: Annotated[int, typer.Option(help="People in the identity world (hard cases)")] = 3_000,
) -> None:
    rules = IdentitySettings()
    report: dict[str, Any] = {"machine": platform.node(), "load_before": os.getloadavg(), "febrl": {}}
    for name in ("febrl4", "febrl3"):
        report["febrl"][name] = {"c360": febrl_run(name, rules)}
        if not skip_splink:
            report["febrl"][name]["splink"] = splink_run(name)
        print(json.dumps({name: report["febrl"][name]}, indent=1))
    with _mongo(mongo_uri_) as uri:
        report["world"] = world_run(uri, world_people, rules)
        print(json.dumps({"world": report["world"]}, indent=1))
        report["throughput"] = throughput_run(uri, profiles, new, batch, rules)
    report["load_after"] = os.getloadavg()
    print(json.dumps({"throughput": report["throughput"], "load": report["load_after"]}, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"identity-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    app()
