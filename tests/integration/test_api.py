"""The REST API over a genuine MongoDB: lookups, redirects after merges, 404/422 and readiness."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import NoApiKeys
from c360.bootstrap import api_app
from c360.cli import app as cli
from c360.settings import ApiKeySettings, ApiSettings, MongoSettings, Settings
from operational.store import Store
from operational.workers import WorkerRegistry

pytestmark = pytest.mark.integration
T0 = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(stitched_store: Store) -> Store:
    return stitched_store


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as client:
        yield client


def test_lookup_normalizes_the_value_and_returns_the_whole_profile(client: TestClient) -> None:
    response = client.get("/profiles/lookup", params={"type": "email", "value": "  ANN@Shop.co.uk "})
    assert response.status_code == 200
    body = response.json()
    assert body["event_count"] == 3
    assert body["stats"]["order"] == {"count": 1, "amount": "19.99"}
    assert body["stats"]["login"] == {"count": 1, "amount": None}
    assert body["first_seen"] == "2026-06-01T09:30:00Z"
    assert body["last_seen"] == "2026-06-03T09:30:00Z"
    assert body["channels"] == {"store": "2026-06-01T09:30:00Z", "web": "2026-06-02T09:30:00Z"}
    assert [(i["type"], i["value"]) for i in body["identifiers"]] == [
        ("cookie", "ck_9"),
        ("email", "ann@shop.co.uk"),
        ("phone", "+447911123456"),
    ]
    assert len(body["merged_from"]) == 1
    by_phone = client.get("/profiles/lookup", params={"type": "phone", "value": "+44 7911 123456"}).json()
    assert by_phone["id"] == body["id"]


def test_merged_id_resolves_to_survivor(client: TestClient) -> None:
    survivor = client.get("/profiles/lookup", params={"type": "cookie", "value": "ck_9"}).json()
    merged_id = survivor["merged_from"][0]
    response = client.get(f"/profiles/{merged_id}")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["requested_id"]) == (survivor["id"], merged_id)
    events = client.get(f"/profiles/{merged_id}/events", params={"limit": 2}).json()
    assert [e["event_id"] for e in events] == ["a3", "a2"]


@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("/profiles/p00000000000000000000", {}, 404, "not found"),
        ("/profiles/not-an-id", {}, 422, "pattern"),
        ("/profiles/lookup", {"type": "email", "value": "nobody@shop.co.uk"}, 404, "no profile holds"),
        ("/profiles/lookup", {"type": "email", "value": "not an email"}, 404, "invalid email"),
        ("/profiles/lookup", {"type": "phone", "value": "12"}, 404, "invalid phone"),
        ("/profiles/lookup", {"type": "shoe_size", "value": "9"}, 422, "Input should be"),
        ("/profiles/lookup", {"type": "email"}, 422, "Field required"),
        ("/profiles/p00000000000000000000/events", {"limit": 0}, 422, "greater than"),
    ],
)
def test_errors_are_4xx_with_a_message(client: TestClient, path, params, status, fragment) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert fragment in response.text


def test_readiness_needs_mongo_and_a_live_ingest_worker(client: TestClient, store: Store) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    not_ready = client.get("/ready")
    assert not_ready.status_code == 503 and not_ready.json()["mongo"] == "ok"
    WorkerRegistry(store).beat("w1", {"lag": 0})
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["ingest_workers"] == 1


def test_metrics_exposed_for_prometheus(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "python_gc_objects_collected_total" in response.text


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/profiles/lookup" in client.get("/openapi.json").json()["paths"]


def _with(settings: Settings, database: str, **changes: object) -> Settings:
    configured = settings.model_copy(update=changes)
    configured.mongo = settings.mongo.model_copy(update={"database": database})
    return configured


@pytest.mark.parametrize("keys", [[], [{"name": "ops", "key": "k" * 32, "role": "reader"}]])
def test_a_development_api_without_keys_says_it_is_open(
    settings: Settings, fresh_db: str, keys: list[dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    configured = _with(
        settings, fresh_db, development=True, api=ApiSettings(keys=[ApiKeySettings(**k) for k in keys])
    )
    log = caplog.at_level(logging.WARNING, logger="c360.bootstrap")
    with log, api_app(configured) as app, TestClient(app) as client:
        status = client.get("/profiles/p00000000000000000000").status_code
    warned = any("every caller is admin" in r.getMessage() for r in caplog.records)
    assert warned is (not keys)
    assert status == (404 if not keys else 401)  # open: not found; with keys: this caller has none


def test_the_api_does_not_start_without_keys_outside_development(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"mongo": MongoSettings(uri="mongodb://127.0.0.1:1/")})
    with pytest.raises(NoApiKeys, match="does not start open"), api_app(unreachable):
        pass  # refused before any connection: the unreachable MongoDB was never tried


def test_c360_serve_refuses_to_start_without_keys(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no c360.toml
    for name in [n for n in os.environ if n.startswith("C360_")]:
        monkeypatch.delenv(name)
    # An address nobody can bind: were the refusal gone, the server would fail instead of serving forever.
    env = {"C360_MONGO__URI": settings.mongo.uri, "C360_API__HOST": "256.0.0.1"}
    done = CliRunner().invoke(cli, ["serve"], env=env)
    assert done.exit_code == 1
    assert "api.keys is empty" in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)  # a message, no traceback


def test_keys_given_as_digests_admit_their_holders(settings: Settings, fresh_db: str) -> None:
    secret = "reader-key-0123456789"
    expected = hashlib.sha256(secret.encode()).hexdigest()  # what `printf %s KEY | sha256sum` prints
    configured = _with(
        settings,
        fresh_db,
        api=ApiSettings(keys=[ApiKeySettings(name="desk", key_sha256=expected, role="reader")]),
    )
    with api_app(configured) as app, TestClient(app) as client:
        missing = client.get("/profiles/p00000000000000000000", headers={"X-API-Key": secret})
        wrong = client.get("/profiles/p00000000000000000000", headers={"X-API-Key": secret + "x"})
    assert (missing.status_code, wrong.status_code) == (404, 401)
