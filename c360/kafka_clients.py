"""What every Kafka client c360 creates is given: the brokers, and how to reach and authenticate to them.

One function builds the keyword arguments from `kafka` settings, so the consumer, the producers (dead
letters, `c360 world publish`, `c360 connect`'s relay), the admin clients (topic creation) and anything
added later connect the same way: TLS (SSL, with a CA of your own and optionally a client certificate)
and SASL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER). Secrets are read from their files here, when a
client is built, never stored in the settings tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kafka.net.sasl.oauth import AbstractTokenProvider

from c360.settings import KafkaSettings, read_secret_file


class FileTokenProvider(AbstractTokenProvider):
    """OAUTHBEARER: the token in a file, read again for every connection (a refresher rewrites it)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def token(self) -> str:
        token = self.path.read_text().strip()
        if not token:
            raise ValueError(f"kafka.sasl_oauth_token_file {self.path} is empty")
        return token


def client_config(kafka: KafkaSettings) -> dict[str, Any]:
    """kafka-python keyword arguments shared by KafkaConsumer, KafkaProducer and KafkaAdminClient."""
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol.endswith("SSL"):
        config["ssl_check_hostname"] = kafka.ssl_check_hostname
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(kafka, name)
            if path is not None:
                config[name] = str(path)
    if kafka.sasl_mechanism is None:
        return config
    config["sasl_mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_mechanism == "OAUTHBEARER":
        assert kafka.sasl_oauth_token_file is not None  # the settings refuse OAUTHBEARER without it
        config["sasl_oauth_token_provider"] = FileTokenProvider(kafka.sasl_oauth_token_file)
        return config
    config["sasl_plain_username"] = kafka.sasl_username
    config["sasl_plain_password"] = _password(kafka)
    return config


def _password(kafka: KafkaSettings) -> str:
    if kafka.sasl_password is not None:
        return kafka.sasl_password.get_secret_value()
    assert kafka.sasl_password_file is not None  # the settings ask for one of the two
    return read_secret_file(kafka.sasl_password_file, "kafka.sasl_password_file")
