"""The canonical event: the one shape every source is turned into before anything else sees it.

Versioned (`schema_version`), immutable, with identifiers normalized and times in UTC at millisecond
precision (what MongoDB and Delta store), and money as Decimal. `event_id` is deterministic, so that
applying an event twice can be recognised and changes nothing.

A change-data-capture event also carries a `RowChange`: the source row's new state (or its deletion, or
its table's truncation) at a source position. Such events are state, not activity: the writer keeps the
latest row per key and derives the profile's CDC part from the rows, so a delete may name no customer.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ingest.errors import InvalidEventError
from ingest.normalize import normalize_email, normalize_id, normalize_phone
from ingest.storable import NotStorable, check_storable

SCHEMA_VERSION = 1


class IdentifierType(StrEnum):
    CUSTOMER_ID = "customer_id"
    ACCOUNT_ID = "account_id"
    EMAIL = "email"
    PHONE = "phone"
    COOKIE = "cookie"
    DEVICE_ID = "device_id"
    LOYALTY_ID = "loyalty_id"


_NORMALIZERS = {IdentifierType.EMAIL: normalize_email, IdentifierType.PHONE: normalize_phone}


def _utc_millis(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# Types, sources and channels become MongoDB field names: keep them to a safe alphabet.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
UtcMillis = Annotated[AwareDatetime, AfterValidator(_utc_millis)]


class Identifier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: IdentifierType
    value: str

    @model_validator(mode="after")
    def _normalize(self) -> Identifier:
        normalizer = _NORMALIZERS.get(self.type, normalize_id)
        object.__setattr__(self, "value", normalizer(self.value))
        return self

    @cached_property
    def key(self) -> str:
        """The identity-graph key, unique across types."""
        return f"{self.type.value}:{self.value}"


class RowChange(BaseModel):
    """A CDC row's new state: `upsert` (insert, update, snapshot read), `delete`, or `truncate` (table-wide).

    `table` names the state table ("<source>.<table>"), `key` the row within it (None for a truncate),
    `position` the source log position as a sortable string (None when the source gave none), `entity`
    what the profile makes of the row, and `row` the mapped columns of an upsert.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Literal["upsert", "delete", "truncate"]
    table: str
    entity: Literal["holding", "order", "interaction", "person", "identity_link", "traits"]
    key: str | None = None
    position: str | None = None
    row: dict[str, Any] = {}

    _storable_row = field_validator("row")(lambda value: _storable(value))

    @model_validator(mode="after")
    def _check(self) -> RowChange:
        if (self.key is None) != (self.op == "truncate"):
            raise ValueError("a row change needs a key, unless it truncates the table")
        return self


class CanonicalEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    source: Slug
    type: Slug
    occurred_at: UtcMillis
    channel: Slug | None = None
    identifiers: tuple[Identifier, ...]
    amount: Decimal | None = None
    currency: str | None = None
    attributes: dict[str, Any] = {}
    change: RowChange | None = None

    _storable_values = field_validator("attributes", "amount")(lambda value: _storable(value))

    @model_validator(mode="after")
    def _check(self) -> CanonicalEvent:
        if not self.identifiers and (self.change is None or self.change.op == "upsert"):
            raise ValueError("an event needs at least one identifier")
        if self.amount is not None and not self.amount.is_finite():
            raise ValueError("amount must be a finite decimal")
        unique = tuple(dict.fromkeys(self.identifiers))
        object.__setattr__(self, "identifiers", unique)
        return self


def _storable(value: Any) -> Any:
    """Attributes, rows and amounts are written to MongoDB as they are: refuse what it cannot hold."""
    check_storable(value)
    return value


def event_id_for(source: str, natural_key: str) -> str:
    """Stable id from the source's own record id: re-deliveries and replays map to the same event."""
    text = f"{source}\x1f{natural_key}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(text, digest_size=16).hexdigest()
    return f"{source}-{digest}"


def build_event(**fields: Any) -> CanonicalEvent:
    """Construct an event, turning pydantic's report into one InvalidEventError naming the field."""
    try:
        return CanonicalEvent(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "event"
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, NotStorable):
            raise InvalidEventError(".".join(filter(None, (field, cause.path))), cause.message) from None
        raise InvalidEventError(field, first["msg"].removeprefix("Value error, ")) from None
