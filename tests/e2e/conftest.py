"""A private pipeline per test on the session's genuine servers: its own topics (a renamed copy of the
mapping file), consumer group, dead-letter topic and database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from pymongo import MongoClient

from c360.publish import ensure_topics
from c360.settings import Settings
from ingest.mappings import DEFAULT_MAPPING_FILE
from operational.store import Store
from tests.e2e.support import Pipeline


@pytest.fixture
def pipeline(
    settings: Settings,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    fresh_db: str,
    mongo_client: MongoClient,
) -> Iterator[Pipeline]:
    suffix = unique_name("t")
    mapping = yaml.safe_load(DEFAULT_MAPPING_FILE.read_text())
    entries = mapping["sources"] + mapping.get("tables", [])
    for entry in entries:
        entry["topic"] = f"{entry['topic']}.{suffix}"
    mapping_file = tmp_path / "mappings.yaml"
    mapping_file.write_text(yaml.safe_dump(mapping))
    configured = settings.model_copy(deep=True)
    configured.mongo.database = fresh_db
    configured.kafka.group_id = f"group-{suffix}"
    configured.kafka.dead_letter_topic = f"deadletter.{suffix}"
    configured.ingest.mapping_file = mapping_file
    configured.ingest.batch_size = 500
    ensure_topics(configured.kafka, [e["topic"] for e in entries] + [configured.kafka.dead_letter_topic])
    store = Store.open(configured.mongo.uri, fresh_db)
    store.ensure_indexes()
    try:
        yield Pipeline(configured, suffix, store)
    finally:
        store.close()
