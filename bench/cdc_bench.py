"""CDC benchmark: Debezium decode throughput on one core, and live source-change-to-profile latency.

`decode`: each connector's create event (PostgreSQL, MySQL, MongoDB, from tests/cases/debezium) with
the JsonConverter schema envelope and without it, decoded N times in one thread pinned to one core;
reported against plain `json.loads` of the same bytes (the floor any JSON consumer pays) and as the full
ingest translation (decode + table mapping -> canonical event).

`latency`: genuine servers of its own (mongod, Tansu, a PostgreSQL cluster), `c360 connect` capturing
PostgreSQL, c360 ingest in a thread; N single-row updates, one at a time, each timed from its commit
returning to the profile showing it (polled every 5 ms).

    .venv/bin/python -m bench.cdc_bench decode --help
    .venv/bin/python -m bench.cdc_bench latency --help
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from c360.servers import LocalServers, settings_for_local
from c360.settings import load_settings
from ingest.debezium import decode_change
from ingest.mappings import TableMapping
from ingest.records import SourceRecord, translate
from operational.store import Store

# The live run reuses the suite's server helpers (a PostgreSQL cluster, `c360 connect`, an ingest thread).
from tests.conftest import _free_ports, _test_servers
from tests.e2e.cdc_support import Connector, cdc_mapping, profile_of, running_ingest, write_connector_config
from tests.e2e.test_cdc_postgres import SCHEMA
from tests.postgres import PASSWORD, USER, PostgresServer

CASES = Path(__file__).resolve().parents[1] / "tests" / "cases" / "debezium"
FILES = {
    "postgresql": ("pg_create_with_schema.json", b'{"id": 1}', None),
    "mysql": ("mysql_create_with_schema.json", b'{"id": 1004}', None),
    "mongodb": ("mongo_create_with_schema.json", b'{"id": "1004"}', "mongodb"),
}
app = typer.Typer(help=__doc__, no_args_is_help=True)
console = Console()


def _mapping(connector: str | None) -> TableMapping:
    return TableMapping.model_validate(
        {
            "topic": "t",
            "source": "bench",
            "table": "customers",
            "entity": "person",
            "connector": connector,
            "key": ["_id"] if connector == "mongodb" else ["id"],
            "identifiers": [{"type": "email", "field": "email"}],
            "columns": {"first_name": {"field": "first_name", "kind": "text"}},
        }
    )


def _rate(count: int, run: Callable[[], Any]) -> float:
    started = time.process_time()
    for _ in range(count):
        run()
    return count / (time.process_time() - started)


@app.command()
def decode(events: Annotated[int, typer.Option(help="Decodes per measurement.")] = 20_000) -> None:
    """Events/s on one core per connector, with and without schemas, against json.loads of the same bytes."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    console.print(f"{'connector':<11} {'schemas':<8} {'bytes':>6} {'json.loads/s':>13} {'decode/s':>10} "
                  f"{'ratio':>6} {'translate/s':>12}")  # fmt: skip
    for connector, (name, key, hint) in FILES.items():
        document = json.loads((CASES / name).read_bytes())
        for schemas in (True, False):
            value = json.dumps(document if schemas else document["payload"]).encode()
            mapping = _mapping(hint)
            record = SourceRecord("t", 0, 0, key, value, 0)
            baseline = _rate(events, lambda v=value: json.loads(v))
            decoded = _rate(events, lambda v=value, k=key, h=hint: decode_change(k, v, connector=h))
            full = _rate(events, lambda r=record, m=mapping: translate(r, {"t": m}, 1_000_000))
            console.print(
                f"{connector:<11} {'on' if schemas else 'off':<8} {len(value):>6} {baseline:>13,.0f} "
                f"{decoded:>10,.0f} {decoded / baseline:>6.2f} {full:>12,.0f}"
            )


@app.command()
def latency(changes: Annotated[int, typer.Option(help="Source updates to time.")] = 200) -> None:
    """Source commit to profile, p50/p99, through a live PostgreSQL connector and c360 ingest."""
    home = Path(tempfile.mkdtemp(prefix="c360-cdc-bench-"))
    home.chmod(0o755)
    base = load_settings(local=_test_servers(home / "servers"), mongo={"database": "cdc_bench"})
    servers = LocalServers(base.local)
    servers.up()
    settings = settings_for_local(base)
    settings.kafka.group_id = f"bench-{uuid.uuid4().hex[:8]}"
    settings.ingest.mapping_file = home / "mappings.yaml"
    pg = PostgresServer.create(f"c360bench{uuid.uuid4().hex[:6]}", home / "pg", _free_ports(1)[0])
    connector = None
    try:
        pg.create_database("crm")
        source = pg.connect("crm")
        source.execute(SCHEMA)
        source.execute(
            "INSERT INTO product_holdings VALUES (1, 'C-1', 'CC', 'card', 'open', 100, 0, '2020-01-01')"
        )
        topics = cdc_mapping(settings.ingest.mapping_file, {})
        properties = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": "127.0.0.1", "database.port": pg.port, "database.user": USER,
            "database.password": PASSWORD, "database.dbname": "crm", "topic.prefix": "crm",
            "plugin.name": "pgoutput", "publication.name": "c360", "publication.autocreate.mode": "disabled",
            "slot.name": "bench", "table.include.list": "public.product_holdings",
        }  # fmt: skip
        connector = Connector(
            write_connector_config(home / "crm.toml", "crm", properties), settings, home / "connect.log"
        )
        store = Store.open(settings.mongo.uri, settings.mongo.database)
        store.ensure_indexes()
        with running_ingest(settings, topics):
            connector.start()
            seconds = []
            _wait(store, Decimal("0"))
            for n in range(1, changes + 1):
                balance = Decimal(n) / 100
                source.execute(
                    "UPDATE product_holdings SET outstanding_balance = %s WHERE id = 1", (balance,)
                )
                started = time.monotonic()
                _wait(store, balance)
                seconds.append(time.monotonic() - started)
        p50, p99 = statistics.median(seconds) * 1000, statistics.quantiles(seconds, n=100)[98] * 1000
        console.print(
            f"{changes} updates: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(seconds) * 1000:.0f} ms"
        )
        store.close()
    finally:
        if connector is not None:
            connector.stop(signal.SIGTERM)
        subprocess.run(["pg_dropcluster", "--stop", pg.version, pg.cluster], check=False)
        servers.down()
        shutil.rmtree(home, ignore_errors=True)


def _wait(store: Store, balance: Decimal) -> None:
    """Until the profile's holding shows `balance`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        doc = profile_of(store, "customer_id:C-1")
        holdings = (doc or {}).get("cdc", {}).get("holdings", [])
        if holdings and holdings[0].get("outstanding_balance") == balance:
            return
        time.sleep(0.005)
    raise TimeoutError(f"the profile did not show balance {balance} within 60 s")


if __name__ == "__main__":
    app()
