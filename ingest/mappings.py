"""Declarative source mappings: a YAML file, not code, says how each topic becomes canonical events.

A value is taken from a dotted `field` path of the JSON payload or is a `const`, optionally translated
through `values`. `sources` map topics of JSON events; `tables` map Debezium topics, one per captured
table, whose rows are state (see ingest/cdc.py); `files` map batch files (ingest/file_rows.py) with the
same two kinds of mapping. See docs/MAPPINGS.md for the file format and ingest/mappings.yaml for the
default.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.errors import MappingError
from ingest.events import CanonicalEvent, IdentifierType, build_event, event_id_for
from ingest.normalize import normalize_phone

DEFAULT_MAPPING_FILE = Path(__file__).with_name("mappings.yaml")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{2,}={0,2}")
MISSING = object()


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueSpec(_Spec):
    """Where one value comes from: a payload field (dotted path) or a constant."""

    field: str | None = None
    const: Any = None
    values: dict[str, Any] | None = None
    required: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> ValueSpec:
        if (self.field is None) == (self.const is None):
            raise ValueError("give exactly one of `field` or `const`")
        return self

    def extract(self, payload: dict[str, Any]) -> Any:
        """The value, or MISSING when an optional field is absent or null."""
        if self.const is not None:
            return self.const
        value = _lookup(payload, self.field or "")
        if value is MISSING or value is None:
            if self.required:
                raise MappingError(self.field or "", "required field is missing")
            return MISSING
        if self.values is not None:
            key = str(value)
            if key not in self.values:
                raise MappingError(
                    self.field or "", f"unexpected value {key!r:.60}; known: {sorted(self.values)}"
                )
            return self.values[key]
        return value


class TimeSpec(ValueSpec):
    format: Literal["iso8601", "epoch_ms", "epoch_s"] = "iso8601"
    # The zone of naive timestamps; None refuses them (a silent local-time guess corrupts windows).
    timezone: Literal["UTC"] | None = None


class IdentifierSpec(ValueSpec):
    type: IdentifierType
    many: bool = False
    region: str | None = None


class EventMapping(_Spec):
    """How one record becomes an event: a `sources` entry without its topic, or a file's `events`."""

    source: str
    type: ValueSpec
    occurred_at: TimeSpec
    event_id: list[str] = Field(default_factory=list)
    channel: ValueSpec | None = None
    identifiers: list[IdentifierSpec] = Field(min_length=1)
    amount: ValueSpec | None = None
    currency: ValueSpec | None = None
    attributes: dict[str, ValueSpec] = Field(default_factory=dict)


class SourceMapping(EventMapping):
    topic: str


Entity = Literal["holding", "order", "interaction", "person", "identity_link", "traits"]
# The columns an entity's profile summary reads, beyond the identifiers (see profiles/cdc.py).
ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "order": ("amount", "ordered_at"),
    "interaction": ("occurred_at",),
    "traits": ("as_of",),
}


class ColumnSpec(ValueSpec):
    """A column the profile keeps, converted to a type MongoDB stores exactly (see ingest/cdc.py).

    `scale`, for a `money` column of a topic without schemas whose connector sends precise decimals
    (decimal.handling.mode=precise): base64 text is then read as the unscaled integer at this scale.
    """

    kind: Literal["text", "money", "integer", "date", "datetime", "items", "any"] = "any"
    required: bool = False
    scale: int | None = Field(None, ge=-100, le=100)

    @model_validator(mode="after")
    def _scale_of_money(self) -> ColumnSpec:
        if self.scale is not None and self.kind != "money":
            raise ValueError("`scale` is for `money` columns only")
        return self


class StateMapping(_Spec):
    """What a table's rows are and what a profile gets from them: a `tables` entry without its topic and
    connector, or a file's `state`."""

    source: str
    table: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    entity: Entity
    key: list[str] = Field(min_length=1)
    identifiers: list[IdentifierSpec] = Field(min_length=1)
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _entity_columns(self) -> StateMapping:
        missing = [name for name in ENTITY_FIELDS.get(self.entity, ()) if name not in self.columns]
        if missing:
            raise ValueError(f"a table of {self.entity} rows needs the columns {missing}")
        return self


class TableMapping(StateMapping):
    """One captured table (one Debezium topic): what its rows are and what a profile gets from them."""

    topic: str
    # Tombstones carry no source block: the connector decides how the Kafka key is read.
    connector: Literal["postgresql", "mysql", "mariadb", "mongodb", "sqlserver", "oracle"] | None = None
    flattened: bool = False


class CsvOptions(_Spec):
    """How a CSV file is written; its first row names the columns, on one line."""

    delimiter: str = Field(",", min_length=1, max_length=1)
    # null: fields are never quoted.
    quote_char: str | None = Field('"', min_length=1, max_length=1)
    # A doubled quote inside a quoted field is one quote character.
    double_quote: bool = True
    escape_char: str | None = Field(None, min_length=1, max_length=1)
    # UTF-8 or a single-byte encoding that writes ASCII as ASCII (latin-1, cp1252, ...): the reader
    # splits rows on bytes, which in a multi-byte encoding (Shift JIS, UTF-16) may be part of a character.
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _byte_splittable(self) -> CsvOptions:
        try:
            name = codecs.lookup(self.encoding).name
        except LookupError:
            raise ValueError(f"unknown encoding {self.encoding!r}") from None
        decoder = codecs.getincrementaldecoder(name)("replace")
        single_byte = all(len(decoder.decode(bytes([b]))) == 1 for b in range(256))
        ascii_text = bytes(range(128))
        if name != "utf-8" and not (single_byte and ascii_text.decode(name) == ascii_text.decode("ascii")):
            raise ValueError(f"{self.encoding!r} is not UTF-8 or an ASCII-based single-byte encoding")
        return self


class FileSource(_Spec):
    """A batch source: files whose rows become events (`events`) or are each customer's state (`state`,
    where the `as_of` column orders versions: a row with a later as-of replaces the earlier one)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    # None: from the file name (.csv, .parquet, .jsonl or .ndjson; gzip is recognised by its bytes).
    format: Literal["csv", "parquet", "jsonl"] | None = None
    csv: CsvOptions = Field(default_factory=CsvOptions)
    events: EventMapping | None = None
    state: StateMapping | None = None

    @model_validator(mode="after")
    def _one_mapping(self) -> FileSource:
        if (self.events is None) == (self.state is None):
            raise ValueError("give exactly one of `events` or `state`")
        as_of = self.state.columns.get("as_of") if self.state else None
        if self.state is not None and (as_of is None or as_of.kind not in ("date", "datetime")):
            raise ValueError("a state file needs an `as_of` column of kind date or datetime")
        return self


class MappingFile(_Spec):
    version: Literal[1] = 1
    sources: list[SourceMapping] = Field(default_factory=list)
    tables: list[TableMapping] = Field(default_factory=list)
    files: list[FileSource] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_topics(self) -> MappingFile:
        topics = [s.topic for s in self.sources] + [t.topic for t in self.tables]
        if len(topics) != len(set(topics)):
            raise ValueError("each topic may be mapped once")
        if len({f.name for f in self.files}) != len(self.files):
            raise ValueError("each file source name may be used once")
        return self

    def for_topic(self) -> dict[str, SourceMapping | TableMapping]:
        return {s.topic: s for s in [*self.sources, *self.tables]}


def load_mapping_file(path: Path | None = None) -> MappingFile:
    """Read and validate a mapping file; errors name the offending entry."""
    with (path or DEFAULT_MAPPING_FILE).open() as fh:
        return MappingFile.model_validate(yaml.safe_load(fh))


def to_canonical(mapping: EventMapping, payload: Any, raw: bytes) -> CanonicalEvent:
    """Map one decoded payload to a canonical event; raises an IngestError naming the field."""
    if not isinstance(payload, dict):
        raise MappingError("$", f"expected a JSON object, got {type(payload).__name__}")
    fields: dict[str, Any] = {
        "event_id": _event_id(mapping, payload, raw),
        "source": mapping.source,
        "type": text_of(mapping.type, payload),
        "occurred_at": _time(mapping.occurred_at, payload),
        "identifiers": identifiers_of(mapping.identifiers, payload),
        "attributes": _attributes(mapping.attributes, payload),
    }
    if mapping.channel is not None:
        fields["channel"] = _optional(mapping.channel, payload, text_of)
    if mapping.amount is not None:
        fields["amount"] = _optional(mapping.amount, payload, money_of)
    if mapping.currency is not None:
        fields["currency"] = _optional(mapping.currency, payload, text_of)
    return build_event(**fields)


def _lookup(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def _event_id(mapping: EventMapping, payload: dict[str, Any], raw: bytes) -> str:
    """From the source's record id when the mapping names one, else from the exact bytes."""
    if not mapping.event_id:
        return event_id_for(mapping.source, hashlib.blake2b(raw, digest_size=16).hexdigest())
    parts = []
    for path in mapping.event_id:
        value = _lookup(payload, path)
        if value is MISSING or value is None or isinstance(value, dict | list):
            raise MappingError(path, "event id field is missing or not a scalar")
        parts.append(str(value).strip())
    return event_id_for(mapping.source, "\x1f".join(parts))


def _optional(spec: ValueSpec, payload: dict[str, Any], convert: Any) -> Any:
    return None if spec.extract(payload) is MISSING else convert(spec, payload)


def text_of(spec: ValueSpec, payload: dict[str, Any]) -> str:
    value = spec.extract(payload)
    if not isinstance(value, str):
        raise MappingError(spec.field or "const", f"expected text, got {type(value).__name__}")
    return value


def money_of(spec: ValueSpec, payload: dict[str, Any]) -> Decimal:
    """Exact: JSON numbers arrive as Decimal (parse_float=Decimal), strings are parsed, floats refused."""
    value = spec.extract(payload)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MappingError(spec.field or "const", f"expected a decimal amount, got {type(value).__name__}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        base64 = len(value) <= 64 and _BASE64.fullmatch(value)
        hint = "; base64 of a precise decimal needs the column's `scale`" if base64 else ""
        raise MappingError(spec.field or "const", f"{value!r:.40} is not a decimal amount{hint}") from None
    if not amount.is_finite():
        raise MappingError(spec.field or "const", f"{value!r:.60} is not a finite amount")
    return amount


def _time(spec: TimeSpec, payload: dict[str, Any]) -> datetime:
    value = spec.extract(payload)
    name = spec.field or "const"
    try:
        if spec.format == "iso8601":
            if not isinstance(value, str):
                raise TypeError
            moment = datetime.fromisoformat(value.strip())
        else:
            if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
                raise TypeError
            seconds = Decimal(value) / (1000 if spec.format == "epoch_ms" else 1)
            moment = datetime.fromtimestamp(float(seconds), UTC)
    except (TypeError, ValueError, ArithmeticError, OverflowError, OSError):
        raise MappingError(name, f"{value!r:.60} is not a {spec.format} timestamp") from None
    if moment.tzinfo is None:
        if spec.timezone is None:
            raise MappingError(name, f"{value!r:.60} has no UTC offset and the mapping declares no timezone")
        moment = moment.replace(tzinfo=UTC)
    return moment


def identifiers_of(specs: list[IdentifierSpec], payload: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for spec in specs:
        value = spec.extract(payload)
        if value is MISSING:
            continue
        for item in value if spec.many and isinstance(value, list) else [value]:
            if not isinstance(item, str | int) or isinstance(item, bool):
                raise MappingError(
                    spec.field or "const", f"identifier must be text, got {type(item).__name__}"
                )
            found.append(_identifier(spec, str(item)))
    if not found:
        raise MappingError("identifiers", "the payload carries none of the mapped identifiers")
    return found


def _identifier(spec: IdentifierSpec, value: str) -> dict[str, str]:
    """Phones of a source outside the default region are read in the region the mapping names."""
    if spec.region and spec.type is IdentifierType.PHONE:
        try:
            value = normalize_phone(value, spec.region)
        except ValueError as exc:
            raise MappingError(spec.field or "const", str(exc)) from None
    return {"type": spec.type.value, "value": value}


def _attributes(specs: dict[str, ValueSpec], payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        value = spec.extract(payload)
        if value is not MISSING:
            out[name] = value
    return out
