"""`c360 world`: generate the demo world and publish it to Kafka."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from c360.publish import ensure_topics, publish
from c360.settings import load_settings
from c360.world import DEFAULT_SEED, TOPICS, generate_world

app = typer.Typer(
    help="The generated demo world: people, their records in five sources, ground truth.",
    no_args_is_help=True,
)
console = Console()
People = Annotated[int, typer.Option(min=1, help="How many people.")]
EventsPerPerson = Annotated[float, typer.Option(min=1, help="Average records per person.")]
Seed = Annotated[int, typer.Option(help="Same seed, same world, byte for byte.")]


@app.command("publish")
def publish_command(
    people: People = 1_000, events_per_person: EventsPerPerson = 20.0, seed: Seed = DEFAULT_SEED
) -> None:
    """Generate a world and publish its records to the configured Kafka (kafka.bootstrap_servers).

    Publishing the same seed twice is a replay: every record is recognised and profiles do not change.
    """
    settings = load_settings()
    with console.status("generating"):
        world = generate_world(people=people, events_per_person=events_per_person, seed=seed)
    ensure_topics(settings.kafka, list(TOPICS))
    sent = publish(world.messages, settings.kafka)
    console.print(f"published {sent:,} records of {people:,} people to {settings.kafka.bootstrap_servers}")
