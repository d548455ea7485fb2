"""`c360 world`: generate the demo world and publish it to Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from c360.publish import ensure_topics, publish
from c360.settings import load_settings
from c360.world import DEFAULT_SEED, TOPICS, generate_world
from c360.world_files import SAMPLE_WORLD, sample_files

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


@app.command("files")
def files_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the files (created if missing).")],
    people: People = SAMPLE_WORLD["people"],
    events_per_person: EventsPerPerson = SAMPLE_WORLD["events_per_person"],
    seed: Seed = SAMPLE_WORLD["seed"],
) -> None:
    """Write the world's batch files: a POS dump (Parquet), a Mailchimp-style export (CSV), two monthly
    bureau files and a loyalty member export (gzip), for `c360 import`.

    With the defaults it writes the repository's samples/ again, byte for byte:

        c360 world files samples
    """
    world = generate_world(people=people, events_per_person=events_per_person, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sample_files(world).items():
        (folder / name).write_bytes(data)
        console.print(f"wrote {folder / name} ({len(data):,} bytes)")
