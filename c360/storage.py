"""Where the lake and the exports live: a local directory or an object-store URI, and how to reach it.

A `Location` is the one description every library gets. delta-rs and Polars take its `uri` with its
`options` (the keys of the Rust object_store crate, which both use); obstore, the Python binding of that
same crate, lists, reads, writes and deletes plain objects and makes the conditional creates the sync's
lease needs; pyarrow's own filesystem reads Parquet for DuckDB. The options come from the settings
first, then from the standard environment variables (AWS_ENDPOINT_URL, AWS_REGION, ...), read here and
nowhere else, so that every library sees the same store.

    lake = location("s3://bucket/c360/lake", settings.lake.storage)
    DeltaTable(lake.child("events").uri, storage_options=lake.options)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import obstore
import pyarrow.fs as pafs
from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError
from obstore.store import LocalStore, ObjectStore, from_url

from c360.settings import StorageSettings

# Object stores delta-rs reaches the same way; only s3:// is tested here (against moto's S3 server).
OBJECT_SCHEMES = frozenset({"s3", "s3a", "gs", "az", "abfs", "abfss"})
# setting -> (object_store key, environment variables read when the setting is empty, first set wins)
_S3_OPTIONS = {
    "endpoint": ("aws_endpoint", ("AWS_ENDPOINT_URL", "AWS_ENDPOINT")),
    "region": ("aws_region", ("AWS_REGION", "AWS_DEFAULT_REGION")),
    "access_key_id": ("aws_access_key_id", ("AWS_ACCESS_KEY_ID",)),
    "secret_access_key": ("aws_secret_access_key", ("AWS_SECRET_ACCESS_KEY",)),
    "session_token": ("aws_session_token", ("AWS_SESSION_TOKEN",)),
    "allow_http": ("aws_allow_http", ("AWS_ALLOW_HTTP",)),
    "virtual_hosted_style": ("aws_virtual_hosted_style_request", ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST",)),
}
# obstore takes these as HTTP-client options rather than store configuration.
_CLIENT_KEYS = {"aws_allow_http": "allow_http", "allow_http": "allow_http"}
_TRUE = frozenset({"1", "true", "yes", "on"})


class ObjectExists(Exception):
    """A conditional create found the object there already."""


@dataclass(frozen=True)
class Location:
    """A directory: an absolute local path, or `scheme://bucket/prefix` with the options to reach it."""

    uri: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return urlsplit(self.uri).scheme not in OBJECT_SCHEMES

    @property
    def path(self) -> Path:
        """The local directory (only for a local location)."""
        if not self.is_local:
            raise ValueError(f"{self.uri} is not on the local filesystem")
        return Path(self.uri)

    def child(self, *names: str) -> Location:
        return Location("/".join([self.uri.rstrip("/"), *names]), self.options)

    def __str__(self) -> str:
        return self.uri

    def store(self) -> ObjectStore:
        """An obstore store rooted at this directory (a local one is created)."""
        return _store(self.uri, tuple(sorted(self.options.items())))

    def arrow_filesystem(self) -> pafs.FileSystem:
        """pyarrow's native filesystem for this store; paths on it are `arrow_path` of a URI."""
        if self.is_local:
            return pafs.LocalFileSystem()
        if urlsplit(self.uri).scheme in ("s3", "s3a"):
            return pafs.S3FileSystem(**_arrow_s3(self.options))
        return pafs.FileSystem.from_uri(self.uri)[0]  # gs://, az://: credentials from the environment

    def arrow_path(self, uri: str) -> str:
        """A file URI under this location, as `arrow_filesystem()` names it (bucket/key, or a path)."""
        parts = urlsplit(uri)
        if parts.scheme in OBJECT_SCHEMES:
            return parts.netloc + parts.path
        return parts.path if parts.scheme == "file" else uri

    # -- plain objects ---------------------------------------------------------------------------

    def read(self, name: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none."""
        try:
            return bytes(obstore.get(self.store(), name).bytes())
        except NotFoundError as exc:
            raise FileNotFoundError(f"{self.uri}/{name}") from exc

    def write(self, name: str, data: bytes) -> None:
        """Replace (or create) the object: a put is atomic on object stores, and a rename locally."""
        obstore.put(self.store(), name, data)

    def create(self, name: str, data: bytes) -> None:
        """Create the object only if it does not exist yet (If-None-Match: *); `ObjectExists` if it does."""
        try:
            obstore.put(self.store(), name, data, mode="create")
        except (AlreadyExistsError, PreconditionError) as exc:
            raise ObjectExists(name) from exc

    def delete(self, name: str) -> bool:
        """False when it was not there (object stores do not say, and answer True)."""
        try:
            obstore.delete(self.store(), name)
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        """Every object's name under `prefix`, relative to this location, recursively."""
        if self.is_local and not (self.path / prefix).exists():
            return
        for batch in obstore.list(self.store(), prefix or None):
            for meta in batch:
                yield meta["path"]

    def directories(self) -> list[str]:
        """The names directly below this location that hold objects."""
        if self.is_local and not self.path.exists():
            return []
        listed = obstore.list_with_delimiter(self.store())
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in listed["common_prefixes"])

    def exists(self, name: str) -> bool:
        try:
            obstore.head(self.store(), name)
        except (NotFoundError, FileNotFoundError):
            return False
        return True


@functools.lru_cache(maxsize=64)
def _store(uri: str, options: tuple[tuple[str, str], ...]) -> ObjectStore:
    """One client per store and process: building one sets up an HTTP connection pool."""
    if urlsplit(uri).scheme not in OBJECT_SCHEMES:
        return LocalStore(uri, mkdir=True)
    config = {k: v for k, v in options if k not in _CLIENT_KEYS}
    client = {_CLIENT_KEYS[k]: v.lower() in _TRUE for k, v in options if k in _CLIENT_KEYS}
    return from_url(uri, config=config, client_options=client)  # type: ignore[arg-type]


def location(
    path: str | os.PathLike[str], storage: StorageSettings, environ: Mapping[str, str] = os.environ
) -> Location:
    """A local path (made absolute) or an object-store URI with its options: settings, then environment."""
    text = os.fspath(path)
    scheme = urlsplit(text).scheme
    if scheme not in OBJECT_SCHEMES:
        return Location(str(Path(text.removeprefix("file://")).resolve()))
    if not urlsplit(text).netloc:
        raise ValueError(f"{text}: an object-store URI names its bucket, e.g. s3://bucket/c360/lake")
    return Location(
        text.rstrip("/"),
        storage_options(storage, environ) if scheme in ("s3", "s3a") else dict(storage.options),
    )


def storage_options(storage: StorageSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """object_store's S3 keys from the settings, each unset one from its environment variable."""
    options: dict[str, str] = {}
    for name, (key, variables) in _S3_OPTIONS.items():
        value: Any = getattr(storage, name)
        if value is None:
            value = next((environ[v] for v in variables if environ.get(v)), None)
        elif hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if value is not None:
            options[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return {**options, **storage.options}


def _arrow_s3(options: Mapping[str, str]) -> dict[str, Any]:
    """pyarrow.fs.S3FileSystem's arguments for the same store."""
    kwargs: dict[str, Any] = {
        "access_key": options.get("aws_access_key_id"),
        "secret_key": options.get("aws_secret_access_key"),
        "session_token": options.get("aws_session_token"),
        "region": options.get("aws_region"),
        "force_virtual_addressing": options.get("aws_virtual_hosted_style_request", "").lower() in _TRUE,
    }
    endpoint = options.get("aws_endpoint")
    if endpoint:
        parts = urlsplit(endpoint)
        kwargs["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
        kwargs["scheme"] = parts.scheme or "https"
    return {k: v for k, v in kwargs.items() if v is not None}
