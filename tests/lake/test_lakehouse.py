"""The lakehouse over a synced world: DuckDB and Polars agree with the generator's ground truth; segments
are written back to MongoDB and shown by the API; exports suppress people without marketing consent,
are identical on rerun and report who entered and exited; time travel and profiles as of a past time.
(The same on an S3-protocol server, in brief: test_object_store.py.)"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from c360.bootstrap import apply_segments, export_day, reconcile_lake
from c360.settings import Settings
from c360.storage import Location
from c360.world import World, generate_world
from c360.world_events import world_events
from ingest.events import CanonicalEvent, build_event
from lakehouse.analyses import Analyses
from lakehouse.history import profile_as_of
from lakehouse.tables import Lakehouse
from operational.store import Store
from sync.runner import LakeSync
from tests.lake.support import apply, step_until_idle

pytestmark = pytest.mark.integration

BIG_SPEND = Decimal("300")
SEGMENTS = {
    "version": 1,
    "segments": [
        {"name": "big_spenders", "where": f"stat_amount(stats, 'order') > {BIG_SPEND}"},
        {"name": "newsletter", "marketing": True, "where": "has_identifier(identifiers, 'email')"},
    ],
}


def _consent(world: World, person: int, granted: bool, at: datetime) -> CanonicalEvent:
    email = world.people[person].emails[0]
    return build_event(
        event_id=f"consent-{person}-{at.timestamp()}",
        source="preferences",
        type="consent_updated",
        occurred_at=at,
        identifiers=[{"type": "email", "value": email}],
        attributes={"marketing_consent": granted},
    )


def test_lakehouse_segments_exports_and_history(
    lake_settings: Settings, lake: Location, store: Store
) -> None:
    world = generate_world(people=400, events_per_person=10, seed=63)
    bank = [p.index for p in world.people if not p.web_only]
    t0 = world.now
    granted, withdrew = set(bank[:40]), set(bank[40:60])
    consents = [_consent(world, i, True, t0) for i in granted | withdrew]
    consents += [_consent(world, i, False, t0 + timedelta(hours=1)) for i in withdrew]
    apply(store, world_events(world) + consents, batch=300)
    lake_settings.lake.segments_file.write_text(yaml.safe_dump(SEGMENTS))
    commits: list[object] = []
    sync = LakeSync(store, lake_settings.lake, commits.append)
    step_until_idle(sync.step, lambda: len(commits))
    middle = datetime.now(UTC)
    probe = store.profiles.find_one({"merged_into": {"$exists": False}})
    assert probe is not None

    # DuckDB and Polars over the same views agree with the ground truth.
    con = Lakehouse(lake).duckdb()
    sums = {t: Decimal(0) for t in ("order", "transaction")}
    for expected in world.expected_profiles():
        for kind in sums:
            sums[kind] += expected.sums.get(kind, Decimal(0))
    duck = dict(
        con.sql("SELECT type, sum(amount) FROM events WHERE amount IS NOT NULL GROUP BY 1").fetchall()
    )
    frames = Lakehouse(lake).polars()
    polars = dict(
        frames["events"]
        .filter(pl.col("amount").is_not_null())
        .group_by("type")
        .agg(pl.col("amount").sum())
        .collect()
        .iter_rows()
    )
    assert duck == polars == sums
    assert con.sql("SELECT count(*) FROM profiles").fetchall()[0][0] == len(world.people)
    assert frames["profiles"].select(pl.len()).collect().item() == len(world.people)
    ltv = Analyses(con).ltv().to_polars()
    assert ltv["ltv"].sum() == sums["order"] + sums["transaction"]
    assert Analyses(con).rfm().to_arrow().num_rows == ltv.height
    assert Analyses(con).cohort_ltv().to_arrow().num_rows > 0

    # Segment membership written back to MongoDB and served by the API.
    big = {i for i in bank if world.expected_profile(i).sums.get("order", Decimal(0)) > BIG_SPEND}
    result = apply_segments(lake_settings)
    assert result.profiles_updated == len(big | set(bank))
    with TestClient(create_app(store)) as client:
        for person in bank[:80]:
            email = world.people[person].emails[0]
            body = client.get("/profiles/lookup", params={"type": "email", "value": email}).json()
            want = sorted({"newsletter"} | ({"big_spenders"} if person in big else set()))
            assert body["segments"] == want, person

    # Exports: only people whose latest consent is true; identical files on rerun.
    day = date.today()
    first = export_day(lake_settings, day)
    newsletter = pl.from_arrow(pq.read_table(pa.BufferReader(first.directory.read("newsletter.parquet"))))
    want_emails = {world.people[i].emails[0] for i in granted}
    assert set(newsletter["email"]) <= {e for i in granted for e in world.people[i].emails}
    assert len(newsletter) == len(want_emails)
    assert not set(newsletter["email"]) & {e for i in withdrew for e in world.people[i].emails}
    entry = {e["segment"]: e for e in first.manifest["segments"]}
    assert entry["newsletter"]["suppressed_without_consent"] == len(bank) - len(granted)
    assert entry["big_spenders"]["rows"] == len(big)
    before = _digests(first.directory)
    again = export_day(lake_settings, day)
    assert _digests(again.directory) == before
    assert entry["newsletter"]["files"]["csv"]["sha256"] == before["newsletter.csv"]

    # A day later three more people consent: they enter, nobody exits.
    newcomers = bank[60:63]
    apply(store, [_consent(world, i, True, t0 + timedelta(days=1)) for i in newcomers], batch=10)
    step_until_idle(sync.step, lambda: len(commits))
    sync.close()
    nxt = {e["segment"]: e for e in export_day(lake_settings, day + timedelta(days=1)).manifest["segments"]}
    assert (nxt["newsletter"]["entered"], nxt["newsletter"]["exited"]) == (3, 0)

    # Time travel and history: as of `middle`, the lake had no consent events of the newcomers, and the
    # probe profile had the version MongoDB had then.
    past = Lakehouse(lake, as_of=middle, travel=True).duckdb()
    count = "SELECT count(*) FROM events WHERE type = 'consent_updated'"
    assert past.sql(count).fetchall()[0][0] == len(consents)
    assert con.sql(count).fetchall()[0][0] == len(consents)
    assert Lakehouse(lake).duckdb().sql(count).fetchall()[0][0] == len(consents) + 3
    old = profile_as_of(Lakehouse(lake).duckdb(), probe["_id"], middle)
    assert old is not None and old["version"] == probe["version"]
    assert profile_as_of(con, probe["_id"], datetime(2000, 1, 1, tzinfo=UTC)) is None
    assert reconcile_lake(lake_settings).clean


def _digests(directory: Location) -> dict[str, str]:
    """Every file of an export, listed and read back from where it was written."""
    return {name: hashlib.sha256(directory.read(name)).hexdigest() for name in sorted(directory.list())}
