"""`c360 demo`: the whole platform on local genuine servers, with a generated world."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import quote

import typer
import uvicorn
from rich.console import Console

from c360.bootstrap import api_app, open_store
from c360.commands.world import EventsPerPerson, People, Seed
from c360.demo import BackgroundIngest, examples, publish_world, reset
from c360.progress import progress_bar
from c360.servers import LocalServers, ServerError, settings_for_local
from c360.settings import Settings, load_settings
from c360.world import DEFAULT_SEED, World, generate_world

console = Console()


def demo(
    people: People = 10_000,
    events_per_person: EventsPerPerson = 20.0,
    seed: Seed = DEFAULT_SEED,
    serve: Annotated[bool, typer.Option(help="Serve the API afterwards (--no-serve exits).")] = True,
) -> None:
    """Start MongoDB and Kafka locally, publish a generated world, ingest it, and serve the API.

    About 10k people and 200k records by default; takes a minute or two. The servers keep running
    afterwards (`c360 dev down` stops them).
    """
    base = load_settings()
    try:
        LocalServers(base.local).up()
    except ServerError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    settings = settings_for_local(base).model_copy(deep=True)
    settings.development = True  # the demo's API is for this machine's user: open, and it says so
    settings.mongo.database = "c360_demo"
    settings.kafka.group_id = f"c360-demo-{int(time.time())}"
    console.print(f"MongoDB {settings.mongo.uri}\nKafka   {settings.kafka.bootstrap_servers}")

    with console.status(f"generating {people:,} people"):
        world = generate_world(people=people, events_per_person=events_per_person, seed=seed)
        reset(settings)
    publish_world(world, settings, progress=True)

    with progress_bar() as bar:
        task = bar.add_task("ingesting", total=len(world.messages))
        ingest = BackgroundIngest(settings, lambda t: bar.update(task, completed=t.records)).start()
        totals = ingest.wait_for(len(world.messages))
    try:
        with open_store(settings) as store:
            live = store.profiles.count_documents({"merged_into": {"$exists": False}})
        console.print(
            f"[green]ingested[/green] {totals.records:,} records: {totals.applied:,} applied, "
            f"{totals.dead_letters:,} dead letters; {live:,} profiles for {len(world.people):,} people"
        )
        if serve:
            _serve(settings, world)
    finally:
        ingest.stop()


def _serve(settings: Settings, world: World) -> None:
    url = f"http://{settings.api.host}:{settings.api.port}"
    console.print(f"\nAPI: {url}   (OpenAPI: {url}/docs, readiness: {url}/ready)")
    console.print(
        "[yellow]development mode:[/yellow] the API needs no key and every caller is admin "
        "(`c360 serve` outside development mode refuses to start without api.keys)",
        highlight=False,
    )
    console.print("Try:")
    for ex in examples(world):
        console.print(
            # Encoded: a phone's "+" would otherwise reach the API as a space.
            f"  curl -s '{url}/profiles/lookup?type={ex.type}&value={quote(ex.value, safe='@')}'"
            f"   # {ex.label}, {ex.expected_events} events",
            highlight=False,
            soft_wrap=True,
        )
    console.print("Ctrl-C stops the API and the ingest; `c360 dev down` stops the servers.")
    with api_app(settings) as app:
        uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_level="warning")
