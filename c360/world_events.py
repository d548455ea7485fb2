"""A generated world's messages as canonical events, translated exactly as the ingest path does: for
tests and benchmarks that drive MongoDB through the profile writer without a Kafka round trip."""

from __future__ import annotations

from c360.world import World
from ingest.events import CanonicalEvent
from ingest.mappings import load_mapping_file
from ingest.records import SourceRecord, translate


def world_events(world: World) -> list[CanonicalEvent]:
    """Every message of the world, in publishing order (each is valid by construction)."""
    mappings = load_mapping_file().for_topic()
    events = []
    for offset, m in enumerate(world.messages):
        event = translate(SourceRecord(m.topic, 0, offset, m.key, m.value, 0), mappings, 1_000_000)
        if not isinstance(event, CanonicalEvent):
            raise ValueError(f"message {offset} of the world does not translate: {event}")
        events.append(event)
    return events
