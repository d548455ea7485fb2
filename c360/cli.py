"""The `c360` command: one entry point, a sub-command per job, `--help` on each."""

from __future__ import annotations

import typer

from c360.commands import (
    activate,
    backfill,
    connect,
    demo,
    dev,
    erase,
    imports,
    ingest,
    reconcile,
    segments,
    serve,
    serve_sql,
    setup,
    sql,
    sync,
    training,
    trim,
    world,
)

app = typer.Typer(
    help="c360: real-time Customer 360 profiles from Kafka into MongoDB, served over REST.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal; indented lines stay code
)
app.add_typer(dev.app, name="dev")
app.add_typer(ingest.app, name="ingest")
app.add_typer(imports.app, name="import")
app.add_typer(world.app, name="world")
app.add_typer(sync.app, name="sync")
app.add_typer(segments.app, name="segments")
app.add_typer(activate.app, name="activate")
app.add_typer(segments.export_app, name="export")
app.command()(sql.sql)
app.command(name="training-set")(training.training_set_command)
app.command()(reconcile.reconcile)
app.command()(trim.trim)
app.command()(backfill.backfill_keys)
app.command()(erase.erase)
app.command()(serve.serve)
app.command(name="serve-sql")(serve_sql.serve_sql)
app.command()(demo.demo)
app.command()(connect.connect)
app.command()(setup.setup)


if __name__ == "__main__":
    app()
