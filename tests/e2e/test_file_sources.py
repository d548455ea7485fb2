"""Batch files beside Kafka on genuine servers: the repository's samples (some of the demo world's sources
as files, plus a bureau and a loyalty programme) and the rest of the world over Kafka give every person
the profile the generator's ground truth says; importing the files again changes nothing; and an import
killed mid-file twice resumes with no duplicate and no gap."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from c360.bootstrap import file_import, ingest_loop
from c360.file_import import FileOutcome
from c360.pos_dump import write_receipts
from c360.world import TOPIC_EMAIL, TOPIC_ORDERS, World, generate_world
from c360.world_files import SAMPLE_WORLD, WorldFiles, world_files
from c360.world_truth import expected_view
from ingest.file_reader import find_files
from operational.import_checkpoints import ALREADY, COLLECTION
from operational.reads import ProfileReader
from profiles.offers import load_offer_rules
from profiles.view import profile_view
from tests.e2e.support import (
    Pipeline,
    assert_profiles_match_ground_truth,
    kill_writer,
    live_profiles,
    run_until,
    served,
    wait_for,
)

pytestmark = pytest.mark.e2e
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
BATCH = 100  # rows per batch (and checkpoint) of the killed import
IMPORTS = {  # file source: its samples, in name order (October's bureau file before November's)
    "pos_daily": "pos_orders_*.parquet",
    "mailchimp_activity": "mailchimp_activity_*.csv",
    "bureau": "bureau_*.csv.gz",
    "loyalty_members": "loyalty_members_*.jsonl.gz",
}


def import_samples(pipeline: Pipeline, **options: Any) -> dict[str, list[FileOutcome]]:
    outcomes = {}
    for source, pattern in IMPORTS.items():
        with file_import(pipeline.settings, source) as importer:
            refs = find_files(str(SAMPLES / pattern))
            outcomes[source] = [importer.import_file(ref, threading.Event(), **options) for ref in refs]
    return outcomes


def expected_traits(world: World, files: WorldFiles, person: Any) -> dict[str, Any]:
    """The core bank's traits (world_truth), the bureau's latest month, the loyalty export's."""
    traits = dict(expected_view(world, person, world.now)["traits"])
    bureau = files.latest_bureau().get(person.index)
    if bureau is not None:
        as_of = datetime.combine(bureau.as_of, datetime.min.time(), UTC)
        for name, value in (
            ("bureau_id", bureau.bureau_id),
            ("credit_score", bureau.score),
            ("risk_tier", bureau.risk_tier),
        ):
            traits[name] = {"value": value, "source": "bureau", "updated_at": as_of}
    member = next((m for m in files.loyalty if m.person == person.index), None)
    if member is not None:
        for name, value in (
            ("loyalty_tier", member.tier),
            ("loyalty_points", member.points),
            ("member_since", member.member_since.isoformat()),
        ):
            traits[name] = {"value": value, "source": "loyalty", "updated_at": files.exported_at}
    return traits


def test_file_and_kafka_sources_of_one_world_give_its_ground_truth(pipeline: Pipeline) -> None:
    world = generate_world(**SAMPLE_WORLD)
    files = world_files(world)
    kafka = [m for m in world.messages if m.topic not in (TOPIC_ORDERS, TOPIC_EMAIL)]
    total = pipeline.publish(kafka)

    outcomes = import_samples(pipeline)  # before Kafka: profiles begin from files, and merge later
    with ingest_loop(pipeline.settings) as loop:
        run_until(loop, lambda: loop.totals.records >= total)
    stats = world.stats()
    rows = {source: sum(o.applied for o in found) for source, found in outcomes.items()}
    assert rows == {
        "pos_daily": stats[TOPIC_ORDERS],
        "mailchimp_activity": stats[TOPIC_EMAIL],
        "bureau": sum(len(month) for month in files.bureau.values()),
        "loyalty_members": len(files.loyalty),
    }
    letters = [o.dead_letters for found in outcomes.values() for o in found if o.dead_letters]
    assert (loop.totals.dead_letters, letters) == (0, [])

    store = pipeline.store
    assert_profiles_match_ground_truth(world, store, files.loyalty_ids())
    reader, rules = ProfileReader(store), load_offer_rules()
    mismatches = []
    for person in world.people:
        if person.web_only:
            continue
        view = profile_view(reader.lookup("customer_id", person.customer_id), world.now, rules)
        got, want = served(view), expected_view(world, person, world.now)
        want["traits"] = expected_traits(world, files, person)
        mismatches += [
            f"person {person.index} {key}: {got[key]!r} != {want[key]!r}"
            for key in want
            if got[key] != want[key]
        ]
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"

    before = sorted(live_profiles(store), key=lambda p: p["_id"])
    events = store.events.count_documents({})
    again = import_samples(pipeline)
    assert {o.why for found in again.values() for o in found} == {ALREADY}
    reread = import_samples(pipeline, from_start=True)  # every row read and applied again: all known
    assert sum(o.applied for found in reread.values() for o in found) == 0
    assert sum(o.duplicates for found in reread.values() for o in found) == sum(rows.values())
    assert sorted(live_profiles(store), key=lambda p: p["_id"]) == before
    assert store.events.count_documents({}) == events


def test_a_killed_import_resumes_with_no_duplicate_and_no_gap(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "receipts.csv"
    truth = write_receipts(path, cards=400, seed=7, rows=10_000)
    env = {**os.environ, **pipeline.env(), "C360_INGEST__BATCH_SIZE": str(BATCH)}
    command = [sys.executable, "-m", "c360.cli", "import", str(path), "--source", "pos_receipts", "--quiet"]
    events, checkpoints = pipeline.store.events, pipeline.store.db[COLLECTION]

    for fraction in (0.25, 0.6):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(
                lambda f=fraction, p=proc: _alive(p) and events.count_documents({}) >= truth.rows * f,
                120,
                f"{fraction:.0%} imported",
            )
        finally:
            kill_writer(proc, pipeline.store)
        checkpoint = checkpoints.find_one()
        # No gap: every row before the checkpoint is durable (each row is one event).
        assert 0 < checkpoint["position"]["rows"] <= events.count_documents({})
    assert events.count_documents({}) < truth.rows, (
        "the import finished before the last kill: nothing was proved"
    )

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    resumed = re.search(
        r"resumed after row ([\d,]+); ([\d,]+) rows: ([\d,]+) applied, ([\d,]+) duplicates", final.stdout
    )
    assert resumed, final.stdout
    start, rows, applied, duplicates = (int(g.replace(",", "")) for g in resumed.groups())
    assert start + rows == truth.rows and applied + duplicates == rows
    assert duplicates <= BATCH  # at most the batch in flight at the kill was read again
    assert events.count_documents({}) == truth.rows

    got = {}
    for doc in live_profiles(pipeline.store):
        [card] = [i["value"] for i in doc["identifiers"].values() if i["type"] == "loyalty_id"]
        got[card] = (doc["stats"]["order"]["count"], doc["stats"]["order"]["amount"])
    want = {card: (n, Decimal(truth.pence[card]).scaleb(-2)) for card, n in truth.receipts.items()}
    assert got == want


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        pytest.fail(f"import exited with {proc.returncode}: {stderr[-3000:]}")
    return True
