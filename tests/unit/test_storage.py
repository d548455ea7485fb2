"""Where the lake lives (c360/storage.py), without servers: a local path or an object-store URI, with the
options every library gets from the settings first and the standard AWS_* variables after them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from c360.settings import StorageSettings, load_settings
from c360.storage import Location, ObjectExists, location, storage_options

ENV = {
    "AWS_ENDPOINT_URL": "http://minio.internal:9000",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "from-env",
    "AWS_SECRET_ACCESS_KEY": "env-secret",
    "AWS_ALLOW_HTTP": "true",
}


def test_settings_come_first_then_the_standard_environment_variables() -> None:
    storage = StorageSettings(
        access_key_id="from-settings", secret_access_key=SecretStr("s3cr3t"), allow_http=False
    )
    assert storage_options(storage, ENV) == {
        "aws_endpoint": "http://minio.internal:9000",
        "aws_region": "eu-west-1",
        "aws_access_key_id": "from-settings",
        "aws_secret_access_key": "s3cr3t",
        "aws_allow_http": "false",
    }
    assert storage_options(
        StorageSettings(region="us-east-2"), {"AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"}
    ) == {"aws_region": "us-east-2"}
    assert storage_options(StorageSettings(), {"AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"}) == {
        "aws_region": "a"
    }
    extra = StorageSettings(options={"aws_request_payer": "true"})
    assert storage_options(extra, {}) == {"aws_request_payer": "true"}


def test_settings_and_environment_nest_under_lake_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C360_LAKE__PATH", "s3://acme/c360/lake/")
    monkeypatch.setenv("C360_LAKE__STORAGE__ENDPOINT", "http://127.0.0.1:5555")
    monkeypatch.setenv("C360_LAKE__STORAGE__ALLOW_HTTP", "true")
    lake = load_settings().lake
    found = location(lake.path, lake.storage, {"AWS_REGION": "us-east-1"})
    assert found.uri == "s3://acme/c360/lake"
    assert dict(found.options) == {
        "aws_endpoint": "http://127.0.0.1:5555",
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }
    assert not found.is_local
    assert found.child("events").uri == "s3://acme/c360/lake/events"
    assert (
        found.arrow_path("s3://acme/c360/lake/events/part-0.parquet")
        == "acme/c360/lake/events/part-0.parquet"
    )


def test_a_local_path_is_made_absolute_and_needs_no_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    found = location(".c360/lake", StorageSettings(), ENV)
    assert (found.uri, dict(found.options), found.is_local) == (str(tmp_path / ".c360/lake"), {}, True)
    assert location(tmp_path / "x", StorageSettings(), ENV).path == tmp_path / "x"
    with pytest.raises(ValueError, match="names its bucket"):
        location("s3:///no-bucket", StorageSettings(), ENV)


def test_plain_objects_locally_create_only_once(tmp_path: Path) -> None:
    lake = Location(str(tmp_path / "lake"))
    assert list(lake.list("nothing/")) == [] and lake.directories() == []
    lake.create("a/one.json", b"1")
    with pytest.raises(ObjectExists):
        lake.create("a/one.json", b"2")
    lake.write("b/two.json", b"2")
    lake.write("b/two.json", b"3")
    assert (lake.read("a/one.json"), lake.read("b/two.json")) == (b"1", b"3")
    assert sorted(lake.list()) == ["a/one.json", "b/two.json"] and lake.directories() == ["a", "b"]
    assert lake.delete("a/one.json") and not lake.delete("a/one.json")
    with pytest.raises(FileNotFoundError):
        lake.read("a/one.json")
