"""`c360 connect`: run an embedded Debezium connector into Kafka from a config file."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from c360.connect import ConnectorConfig, ConnectorFailed, run_connector
from c360.settings import load_settings

console = Console()


def connect(
    config: Annotated[
        Path, typer.Argument(help=r"TOML file: name, offsets_file, \[debezium] properties, \[secrets] files.")
    ],
    kafka_connect_json: Annotated[
        bool,
        typer.Option(
            "--kafka-connect-json",
            help="Print the same connector as Kafka Connect's JSON (PUT /connectors/NAME/config) and exit.",
        ),
    ] = False,
) -> None:
    r"""Capture a database with an embedded Debezium connector and publish its changes to Kafka.

    For local use and tests (production runs Debezium on Kafka Connect). Needs a Java 17 JDK and the `cdc`
    extra. Changes go to kafka.bootstrap_servers, to the topics Debezium names
    (`<topic.prefix>.<schema>.<table>`) that the mapping file's `tables` read. Offsets are kept in
    `offsets_file` (relative paths are relative to the config file): stop it with Ctrl-C and start it
    again, and it resumes where it stopped. The file is replaced atomically on each flush, so even a
    kill -9 leaves a whole one; a file that cannot be read stops the connector (move it aside to take
    a new snapshot). c360 sets converter.schemas.enable=false,
    skipped.operations=none, poll.interval.ms=20, decimal.handling.mode=string unless the file says
    otherwise. A property whose value is a secret goes under \[secrets], as the file holding it.

    Production runs the same connector on Kafka Connect: `--kafka-connect-json` prints its
    configuration there (same properties and defaults, JSON converters without schemas, offsets in
    Connect's topic, secrets as `${dir:DIR:FILE}` for Connect's DirectoryConfigProvider), e.g.
    compose/connectors/crm.json from crm.toml.

    Example crm.toml, for a PostgreSQL with wal_level=logical, a REPLICATION role and a publication:

        name = "crm"
        offsets_file = "offsets/crm.dat"

        \[debezium]
        "connector.class" = "io.debezium.connector.postgresql.PostgresConnector"
        "database.hostname" = "127.0.0.1"
        "database.port" = 5432
        "database.user" = "c360"
        "database.dbname" = "crm"
        "topic.prefix" = "crm"
        "plugin.name" = "pgoutput"
        "publication.name" = "c360"
        "slot.name" = "c360_crm"
        "table.include.list" = "public.product_holdings,public.service_interactions,public.identity_map"

        \[secrets]
        "database.password" = "crm_db_password"   # a file next to crm.toml

    then: c360 connect crm.toml
    """
    connector = ConnectorConfig.load(config)
    if kafka_connect_json:
        print(json.dumps(connector.kafka_connect(), indent=2))
        return
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    console.print(
        f"connector {connector.name} -> {settings.kafka.bootstrap_servers} (offsets {connector.offsets_file})"
    )
    try:
        relayed = run_connector(connector, settings.kafka, stop)
    except ConnectorFailed as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"connector {connector.name} stopped after relaying {relayed:,} records")
