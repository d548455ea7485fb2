"""One connector config, two forms: `c360 connect`'s embedded properties and Kafka Connect's JSON carry
the same Debezium settings and defaults; secrets are read from files or referenced, never written."""

from __future__ import annotations

from pathlib import Path

from c360.connect import ConnectorConfig

CONFIG = """
name = "crm"
offsets_file = "offsets/crm.dat"

[debezium]
"connector.class" = "io.debezium.connector.postgresql.PostgresConnector"
"database.hostname" = "crm-db"
"database.port" = 5432
"poll.interval.ms" = 100
"converter.schemas.enable" = true

[secrets]
"database.password" = "crm_password"
"""


def _config(tmp_path: Path) -> ConnectorConfig:
    (tmp_path / "crm.toml").write_text(CONFIG)
    (tmp_path / "crm_password").write_text("s3cret\n")
    return ConnectorConfig.load(tmp_path / "crm.toml")


def test_embedded_form_reads_the_secret_next_to_the_config(tmp_path: Path) -> None:
    properties = _config(tmp_path).properties()
    assert properties["database.password"] == "s3cret"
    assert properties["offset.storage.file.filename"] == str(tmp_path / "offsets/crm.dat")
    assert (properties["skipped.operations"], properties["decimal.handling.mode"]) == ("none", "string")
    assert (properties["poll.interval.ms"], properties["converter.schemas.enable"]) == ("100", "true")


def test_kafka_connect_form_has_the_same_settings_and_references_the_secret(tmp_path: Path) -> None:
    assert _config(tmp_path).kafka_connect() == {
        "name": "crm",
        "skipped.operations": "none",
        "poll.interval.ms": "100",  # the file's own value wins in both forms
        "decimal.handling.mode": "string",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",  # the embedded engine's converter.schemas.enable
        "value.converter.schemas.enable": "true",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "crm-db",
        "database.port": "5432",
        "database.password": f"${{dir:{tmp_path}:crm_password}}",
    }
