"""A private database and lake per test on the session's genuine MongoDB; the lake is a local directory,
or, for a test parametrized with `lake_settings` "s3", a bucket of its own on the session's S3 server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from c360.settings import Settings
from c360.storage import Location, location
from operational.store import Store
from tests.s3 import S3Server

# Apply to a test to run it on local disk and on the S3 server.
ON_BOTH = pytest.mark.parametrize("lake_settings", ["local", "s3"], indirect=True)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server, started once for the session when a test first asks for it."""
    with S3Server.start(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    with s3_server.bucket() as name:
        yield name


@pytest.fixture
def lake_settings(
    request: pytest.FixtureRequest, settings: Settings, fresh_db: str, tmp_path: Path
) -> Settings:
    configured = settings.model_copy(deep=True)
    configured.mongo.database = fresh_db
    configured.lake.path = str(tmp_path / "lake")
    configured.lake.batch_size = 1_000
    configured.lake.batch_max_seconds = 0.2
    configured.lake.current_every_seconds = 0
    configured.lake.segments_file = tmp_path / "segments.yaml"
    configured.lake.exports_path = str(tmp_path / "exports")
    if getattr(request, "param", "local") == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        configured.lake.path = f"s3://{bucket}/c360/lake"
        configured.lake.exports_path = f"s3://{bucket}/c360/exports"
        configured.lake.storage = server.storage()
    return configured


@pytest.fixture
def lake(lake_settings: Settings) -> Location:
    return location(lake_settings.lake.path, lake_settings.lake.storage)


@pytest.fixture
def store(lake_settings: Settings) -> Iterator[Store]:
    store = Store.open(lake_settings.mongo.uri, lake_settings.mongo.database)
    store.ensure_indexes()
    try:
        yield store
    finally:
        store.close()
