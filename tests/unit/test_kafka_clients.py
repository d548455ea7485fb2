"""Kafka security settings become the kafka-python arguments every client gets; half a setup is refused.

Expected arguments are written out by hand from kafka-python's documented option names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from c360.kafka_clients import FileTokenProvider, client_config
from c360.settings import KafkaSettings, load_settings

BOOT = "kafka-0:9093,kafka-1:9093"


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert client_config(KafkaSettings(bootstrap_servers=BOOT)) == {
        "bootstrap_servers": BOOT,
        "security_protocol": "PLAINTEXT",
    }


def test_tls_with_a_private_ca_and_a_client_certificate(tmp_path: Path) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=BOOT,
        security_protocol="SSL",
        ssl_cafile=tmp_path / "ca.pem",
        ssl_certfile=tmp_path / "client.pem",
        ssl_keyfile=tmp_path / "client.key",
    )
    assert client_config(kafka) == {
        "bootstrap_servers": BOOT,
        "security_protocol": "SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": str(tmp_path / "ca.pem"),
        "ssl_certfile": str(tmp_path / "client.pem"),
        "ssl_keyfile": str(tmp_path / "client.key"),
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_password_from_a_file_over_tls(tmp_path: Path, mechanism: str) -> None:
    secret = tmp_path / "kafka_password"
    secret.write_text("s3cret\n")  # `echo` leaves a newline: it is not part of the password
    kafka = KafkaSettings(
        bootstrap_servers=BOOT,
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username="c360-ingest",
        sasl_password_file=secret,
    )
    assert client_config(kafka) == {
        "bootstrap_servers": BOOT,
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "c360-ingest",
        "sasl_plain_password": "s3cret",
    }


def test_sasl_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C360_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("C360_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("C360_KAFKA__SASL_USERNAME", "c360")
    monkeypatch.setenv("C360_KAFKA__SASL_PASSWORD", "from-env")
    config = client_config(load_settings().kafka)
    assert (config["sasl_mechanism"], config["sasl_plain_username"], config["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "c360",
        "from-env",
    )
    assert "from-env" not in repr(load_settings())  # a SecretStr: never printed with the settings


def test_oauthbearer_reads_the_token_file_again_for_every_connection(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    kafka = KafkaSettings(
        security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER", sasl_oauth_token_file=token
    )
    config = client_config(kafka)
    provider = config.pop("sasl_oauth_token_provider")
    assert config == {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "sasl_mechanism": "OAUTHBEARER",
    }
    assert isinstance(provider, FileTokenProvider)
    assert provider.token() == "first"
    token.write_text("refreshed")
    assert provider.token() == "refreshed"


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ({"security_protocol": "SASL_SSL"}, "sasl_mechanism is needed"),
        ({"sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "p"}, "sasl_mechanism is needed"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256"}, "needs kafka.sasl_username"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
            "one of kafka.sasl_password",
        ),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"}, "sasl_oauth_token_file"),
        ({"ssl_cafile": "/etc/ca.pem"}, "need security_protocol SSL"),
        ({"security_protocol": "SSL", "ssl_certfile": "/etc/c.pem"}, "go together"),
        ({"security_protocol": "TLS"}, "security_protocol"),
    ],
)
def test_half_a_security_setup_is_refused(given: dict[str, str], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        KafkaSettings(**given)  # type: ignore[arg-type]


def test_an_unreadable_password_file_names_the_setting(tmp_path: Path) -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password_file=tmp_path / "missing",
    )
    with pytest.raises(ValueError, match=r"kafka\.sasl_password_file: cannot read"):
        client_config(kafka)
