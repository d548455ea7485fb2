"""Credentials in settings: a MongoDB user with a password file becomes a URI with both, API keys are a key
or its digest, and the roles give each component only its collections. Expected values by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from c360.settings import ApiKeySettings, MongoSettings, load_settings
from operational.roles import COMPONENTS, GRANTS, privileges


def test_a_password_file_goes_into_the_uri_escaped(tmp_path: Path) -> None:
    secret = tmp_path / "mongo_password"
    secret.write_text("p@ss:w/rd\n")
    mongo = MongoSettings(
        uri="mongodb://m-1:27017,m-2:27017/?replicaSet=rs0", username="c360-api", password_file=secret
    )
    assert mongo.uri == "mongodb://c360-api:p%40ss%3Aw%2Frd@m-1:27017,m-2:27017/?replicaSet=rs0"


def test_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("s3cret")
    monkeypatch.setenv("C360_MONGO__URI", "mongodb://mongo:27017/?replicaSet=rs0")
    monkeypatch.setenv("C360_MONGO__USERNAME", "c360-ingest")
    monkeypatch.setenv("C360_MONGO__PASSWORD_FILE", str(tmp_path / "pw"))
    assert load_settings().mongo.uri == "mongodb://c360-ingest:s3cret@mongo:27017/?replicaSet=rs0"


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ({"username": "u"}, "go together"),
        ({"uri": "mongodb://a:b@m:27017/", "username": "u", "password_file": "PW"}, "already holds"),
        ({"username": "u", "password_file": "missing"}, "cannot read"),
    ],
)
def test_incomplete_or_doubled_credentials_are_refused(
    tmp_path: Path, given: dict[str, str], complaint: str
) -> None:
    (tmp_path / "PW").write_text("x")
    given = {k: str(tmp_path / v) if k == "password_file" else v for k, v in given.items()}
    with pytest.raises(ValidationError, match=complaint):
        MongoSettings(**given)  # type: ignore[arg-type]


def test_an_api_key_is_the_key_or_its_digest_never_both_nor_neither() -> None:
    digest = hashlib.sha256(b"reader-key-0123456789").hexdigest()
    assert ApiKeySettings(name="a", key_sha256=digest, role="reader").key is None
    for wrong in ({}, {"key": "reader-key-0123456789", "key_sha256": digest}):
        with pytest.raises(ValidationError, match="one of key and key_sha256"):
            ApiKeySettings(name="a", role="reader", **wrong)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="key_sha256"):
        ApiKeySettings(name="a", key_sha256="not-a-digest", role="reader")


def test_only_the_jobs_role_writes_everywhere_and_the_api_role_writes_nothing() -> None:
    writes = {"insert", "update", "remove"}
    for component in COMPONENTS:
        granted = privileges(component, "c360")
        assert all(p["resource"]["db"] == "c360" for p in granted)  # nothing beyond its database
        writable = {p["resource"]["collection"] for p in granted if writes & set(p["actions"])}
        if component == "api" or component == "sync":
            assert writable == set(), component
        elif component == "ingest":
            assert "events" in writable and "erasures" not in writable and "" not in writable
        else:
            assert writable == {""}  # every collection
        assert not any(
            {"createIndex", "dropCollection", "createCollection"} & set(p["actions"]) for p in granted
        )
    assert "collMod" in GRANTS["sync"]["profiles"]
