"""The SQL endpoint's bounds and freshness, with psycopg against an endpoint over a hand-built lake:
TLS required once configured, too many clients and runaway statements refused with PostgreSQL's
SQLSTATEs, keys held only as digests accepted, and the views following profile_changes as the sync
appends, compacts and erases (sql/engine.py), without a full reload for an append."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from api.auth import KeyRing
from c360.storage import Location
from profiles.offers import load_offer_rules
from sql.engine import Engine
from sql.server import Endpoint, Insecure, check_exposure, tls_context
from sync.tables import PROFILE_CHANGES
from tests.lake.support import profile_change
from tests.sql_serving import serving

KEY = "analyst-key-change-me-01"
RING = KeyRing.of_digests([("analyst", hashlib.sha256(KEY.encode()).digest(), "reader", False)])


def _dsn(port: int, sslmode: str = "disable") -> str:
    return f"host=127.0.0.1 port={port} dbname=c360 user=analyst password={KEY} sslmode={sslmode}"


def _append(lake: Location, rows: list[dict[str, object]]) -> None:
    table = pa.Table.from_pylist(rows, PROFILE_CHANGES.schema)
    write_deltalake(lake.child(PROFILE_CHANGES.name).uri, table, mode="append")


def test_views_follow_appends_compactions_and_erasures(tmp_path: Path) -> None:
    lake = Location(str(tmp_path / "lake"))
    engine = Engine(lake, load_offer_rules())
    assert not engine.refresh()  # no table yet: empty views, no error
    _append(lake, [profile_change("pA", 1, 1, 1), profile_change("pB", 2, 1, 10)])
    _append(lake, [profile_change("pC", 3, 1, 3)])

    def live() -> dict[str, int]:
        rows = engine.cursor(True).sql("SELECT profile_id, version FROM profile_state").fetchall()
        return dict(rows)

    assert engine.refresh() and live() == {"pA": 1, "pB": 2, "pC": 3}
    _append(lake, [profile_change("pA", 4, 2, 5), profile_change("pC", 5, 3, 0, merged_into="pB")])
    assert engine.refresh() and live() == {"pA": 4, "pB": 2}  # pA's newer version; pC merged away
    assert not engine.refresh()  # nothing new
    delta = DeltaTable(lake.child(PROFILE_CHANGES.name).uri)
    delta.optimize.compact()  # the same rows in new files: nothing changes, nothing goes back
    assert engine.refresh() and live() == {"pA": 4, "pB": 2}
    delta.delete("profile_id = 'pA'")  # an erasure
    assert engine.refresh() and live() == {"pB": 2}
    masked = engine.cursor(False).sql("SELECT profile_id FROM customer_360").fetchall()
    assert masked == [("pB",)]


def _certificate(tmp_path: Path) -> tuple[str, str]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def _refused(connect: Callable[[], object]) -> str:
    """The FATAL message a refused connection reports (libpq gives no SQLSTATE for those)."""
    with pytest.raises(psycopg.OperationalError) as caught:
        connect()
    return str(caught.value)


def test_tls_connections_and_statement_time_are_bounded(tmp_path: Path) -> None:
    engine = Engine(Location(str(tmp_path / "lake")), load_offer_rules())
    cert, key = _certificate(tmp_path)
    tls = tls_context(cert, key)
    # 5 s: planning the views alone can take a second on a loaded machine.
    endpoint = Endpoint(engine, RING, tls, max_connections=1, timeout_s=5.0)
    with serving(endpoint) as port:
        text = _refused(lambda: psycopg.connect(_dsn(port, "disable")))
        assert "requires TLS" in text
        with psycopg.connect(_dsn(port, "require")) as conn:  # the key's digest is all the ring holds
            assert conn.info.pgconn.ssl_in_use
            assert conn.execute("SELECT count(*) FROM customer_360").fetchone() == (0,)
            assert "too many clients" in _refused(lambda: psycopg.connect(_dsn(port, "require")))
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b")
            conn.rollback()
            assert conn.execute("SELECT 1 + 1").fetchone() == (2,)  # the session goes on
        with psycopg.connect(_dsn(port, "require")) as conn:  # the first session's slot is free again
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_no_clear_text_passwords_beyond_loopback() -> None:
    check_exposure("127.0.0.1", None, development=False)
    check_exposure("0.0.0.0", None, development=True)
    with pytest.raises(Insecure, match="tls_cert_file"):
        check_exposure("0.0.0.0", None, development=False)
