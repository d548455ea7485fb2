"""`c360 import` against the suite's genuine MongoDB and Kafka: state files replace by as-of, bad rows
reach the dead-letter topic with their file, row and column, a changed file counts only its new rows, a
stopped import resumes from its checkpoint, a drop folder imports each finished file once, and a daily
table extract is that table's state."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from kafka import KafkaConsumer

from c360.bootstrap import file_import
from c360.drop_folder import watch
from c360.file_import import FileOutcome
from c360.publish import ensure_topics
from c360.settings import Settings
from ingest.file_reader import find_files
from ingest.mappings import DEFAULT_MAPPING_FILE
from operational.import_checkpoints import ALREADY, COLLECTION, ImportCheckpoints
from operational.reads import ProfileReader
from operational.store import Store
from profiles.offers import load_offer_rules
from profiles.view import profile_view

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, tzinfo=UTC)
MAILCHIMP_HEADER = "Email Address,Campaign,Action,Timestamp,Message Id\n"


@pytest.fixture
def configured(settings: Settings, fresh_db: str, unique_name: Callable[[str], str]) -> Settings:
    configured = settings.model_copy(deep=True)
    configured.mongo.database = fresh_db
    configured.kafka.dead_letter_topic = unique_name("deadletter")
    configured.ingest.batch_size = 3
    ensure_topics(configured.kafka, [configured.kafka.dead_letter_topic])
    return configured


@pytest.fixture
def store(configured: Settings) -> Store:
    store = Store.open(configured.mongo.uri, configured.mongo.database)
    yield store
    store.close()


def run(settings: Settings, source: str, path: Path | str, **options: object) -> list[FileOutcome]:
    with file_import(settings, source) as importer:
        return [importer.import_file(ref, threading.Event(), **options) for ref in find_files(str(path))]


def traits(store: Store, customer_id: str) -> dict[str, dict[str, object]]:
    doc = ProfileReader(store).lookup("customer_id", customer_id)
    return profile_view(doc, NOW, load_offer_rules())["traits"]


def test_a_later_bureau_file_replaces_and_an_earlier_one_changes_nothing(
    configured: Settings, store: Store, tmp_path: Path
) -> None:
    header = "customer_ref|bureau_id|score|risk_tier|as_of\n"
    october = tmp_path / "bureau_2026-10-01.csv.gz"
    october.write_bytes(
        gzip.compress((header + "CUST-1|B-1|700|C|2026-10-01\nCUST-2|B-2|810|B|2026-10-01\n").encode())
    )
    november = tmp_path / "bureau_2026-11-01.csv"
    november.write_text(header + "CUST-1|B-1|655|C|2026-11-01\n")

    [first] = run(configured, "bureau", november)
    [second] = run(configured, "bureau", october)
    assert (first.applied, second.applied) == (1, 2)  # October's CUST-1 row is an event, and stale

    one, two = traits(store, "CUST-1"), traits(store, "CUST-2")
    november_1st = datetime(2026, 11, 1, tzinfo=UTC)
    assert one["credit_score"] == {"value": 655, "source": "bureau", "updated_at": november_1st}
    assert one["risk_tier"]["value"] == "C" and one["bureau_id"]["value"] == "B-1"
    assert two["credit_score"] == {
        "value": 810,
        "source": "bureau",
        "updated_at": datetime(2026, 10, 1, tzinfo=UTC),
    }
    profile = ProfileReader(store).lookup("customer_id", "CUST-1")
    assert profile.get("event_count", 0) == 0  # state, not activity: no counts, no first or last seen


def test_bad_rows_reach_the_dead_letter_topic_with_file_row_and_column(
    configured: Settings, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "activity.csv"
    path.write_bytes(
        (
            MAILCHIMP_HEADER
            + "ann@x.com,c1,open,2026-11-01 10:00:00,m1\n"
            + "ann@x.com,c1,bounce,2026-11-01 10:00:01,m2\n"  # not in the mapping's values
            + "not-an-email,c1,open,2026-11-01 10:00:02,m3\n"
            + "ann@x.com,c1\n"  # malformed: two cells
            + "bo@x.com,c1,click,2026-11-01 10:00:04,m5\n"
        ).encode()
        + b"cy@x.com,caf\xe9,open,2026-11-01 10:00:05,m6\n"  # Latin-1 in a UTF-8 file
    )
    [outcome] = run(configured, "mailchimp_activity", path)
    assert (outcome.rows, outcome.applied, outcome.error) == (6, 2, None)
    assert outcome.dead_letters == {"mapping": 1, "invalid_event": 1, "decode": 2}

    consumer = KafkaConsumer(
        configured.kafka.dead_letter_topic,
        bootstrap_servers=configured.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    letters = {}
    for record in consumer:
        headers = {k: v.decode() for k, v in record.headers}
        letters[(headers.get("c360.source.row"), headers["c360.field"])] = (headers, record.value)
    consumer.close()
    assert set(letters) == {("2", "Action"), ("3", "identifiers.0"), (None, "$"), ("5", "Campaign")}
    headers, value = letters[("2", "Action")]
    assert headers["c360.reason"] == "mapping" and headers["c360.source.name"] == "mailchimp_activity"
    assert headers["c360.source.file"] == str(path) and "'bounce'" in headers["c360.error"]
    assert b'"Message Id": "m2"' in value
    malformed, _ = letters[(None, "$")]
    assert "expected 5 cells, got 2" in malformed["c360.error"]
    decoding, _ = letters[("5", "Campaign")]
    assert decoding["c360.reason"] == "decode" and "utf-8" in decoding["c360.error"]
    assert ProfileReader(store).lookup("email", "bo@x.com")["stats"]["email_clicked"]["count"] == 1


def test_a_changed_file_counts_only_its_new_rows(configured: Settings, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "receipts.csv"
    header = "receipt_no;store;sold_at;card_no;total;currency\n"
    rows = [f"R{n};S1;2026-11-0{n}T10:00:00Z;LC-1;1{n}.50;GBP\n" for n in range(1, 6)]
    path.write_text(header + "".join(rows[:4]))
    [first] = run(configured, "pos_receipts", path)
    [again] = run(configured, "pos_receipts", path)
    path.write_text(header + "".join(rows))  # one more receipt appended
    [changed] = run(configured, "pos_receipts", path)

    assert (first.applied, first.why) == (4, "new")
    assert (again.why, again.rows) == (ALREADY, 0)
    assert changed.why.startswith("changed") and (changed.applied, changed.duplicates) == (1, 4)
    stats = ProfileReader(store).lookup("loyalty_id", "LC-1")["stats"]["order"]
    assert stats == {
        "count": 5,
        "amount": Decimal("11.50")
        + Decimal("12.50")
        + Decimal("13.50")
        + Decimal("14.50")
        + Decimal("15.50"),
    }


def test_a_stopped_import_resumes_after_its_last_durable_batch(
    configured: Settings, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "activity.csv"
    path.write_text(
        MAILCHIMP_HEADER + "".join(f"p{n}@x.com,c,open,2026-11-01 10:00:{n:02d},m{n}\n" for n in range(10))
    )
    stop = threading.Event()
    batches: list[int] = []

    def stop_after_two(outcome: FileOutcome) -> None:
        batches.append(outcome.rows)
        if len(batches) == 2:
            stop.set()

    with file_import(configured, "mailchimp_activity", on_batch=stop_after_two) as importer:
        [ref] = find_files(str(path))
        stopped = importer.import_file(ref, stop)
    checkpoint = ImportCheckpoints(store.db[COLLECTION]).get("mailchimp_activity", str(path))
    assert not stopped.done and checkpoint["position"]["rows"] == stopped.rows
    assert 6 <= stopped.rows < 10  # the batch in flight when the stop came was completed, no more

    [resumed] = run(configured, "mailchimp_activity", path)
    assert resumed.why == f"resumed after row {stopped.rows:,}" and resumed.done
    assert (resumed.rows, resumed.applied, resumed.duplicates) == (10 - stopped.rows, 10 - stopped.rows, 0)
    assert store.events.count_documents({}) == 10


def test_a_drop_folder_imports_each_finished_file_once(
    configured: Settings, store: Store, tmp_path: Path
) -> None:
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "day1.csv").write_text(MAILCHIMP_HEADER + "a@x.com,c,open,2026-11-01 10:00:00,m1\n")
    partial = drops / "day2.csv.part"
    partial.write_text(MAILCHIMP_HEADER + "b@x.com,c,open,2026-11-01 10:00:00,m2\n")
    stop = threading.Event()
    seen: list[FileOutcome] = []
    with file_import(configured, "mailchimp_activity") as importer:
        thread = threading.Thread(
            target=watch,
            args=(importer, str(drops), None, stop),
            kwargs={"interval_s": 0.05, "settle_s": 0.3, "on_file": seen.append},
        )
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not seen and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # more polls: day1 is not imported again, the partial file is never read
            assert [Path(o.uri).name for o in seen] == ["day1.csv"]
            partial.rename(drops / "day2.csv")
            while len(seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(10)
    assert [(Path(o.uri).name, o.applied) for o in seen] == [("day1.csv", 1), ("day2.csv", 1)]
    checkpoints = {d["uri"] for d in store.db[COLLECTION].find()}
    assert checkpoints == {str(drops / "day1.csv"), str(drops / "day2.csv")}


def test_a_daily_table_extract_is_the_tables_state(
    configured: Settings, store: Store, tmp_path: Path
) -> None:
    """A database table exported daily (here product holdings) is a state file of that table."""
    mapping = yaml.safe_load(DEFAULT_MAPPING_FILE.read_text())
    mapping["files"].append(
        {
            "name": "holdings_extract",
            "state": {
                "source": "crm",
                "table": "holdings_extract",
                "entity": "holding",
                "key": ["id"],
                "identifiers": [{"type": "customer_id", "field": "customer_id"}],
                "columns": {
                    "product_id": {"field": "product_id", "kind": "text", "required": True},
                    "product_type": {"field": "product_type", "kind": "text"},
                    "status": {"field": "status", "kind": "text"},
                    "credit_limit": {"field": "credit_limit", "kind": "money"},
                    "outstanding_balance": {"field": "outstanding_balance", "kind": "money"},
                    "as_of": {"field": "extracted_on", "kind": "date", "required": True},
                },
            },
        }
    )
    (tmp_path / "mappings.yaml").write_text(yaml.safe_dump(mapping))
    configured.ingest.mapping_file = tmp_path / "mappings.yaml"
    header = "id,customer_id,product_id,product_type,status,credit_limit,outstanding_balance,extracted_on\n"
    for day, balance in (("2026-11-02", "900.00"), ("2026-11-01", "250.00")):  # the later extract first
        (tmp_path / f"holdings_{day}.csv").write_text(
            header + f"1,CUST-9,CC-1,credit_card,active,1000.00,{balance},{day}\n"
            f"2,CUST-9,CA-1,current_account,active,,10.00,{day}\n"
        )
        run(configured, "holdings_extract", tmp_path / f"holdings_{day}.csv")
    view = profile_view(ProfileReader(store).lookup("customer_id", "CUST-9"), NOW, load_offer_rules())
    assert sorted((h["product_id"], h["outstanding_balance"]) for h in view["holdings"]) == [
        ("CA-1", Decimal("10.00")),
        ("CC-1", Decimal("900.00")),
    ]
    assert view["credit_utilization"] == Decimal("0.9000")
