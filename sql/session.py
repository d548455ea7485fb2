"""One client connection after authentication: simple and extended queries over a DuckDB cursor.

Read-only by construction: a statement runs only if DuckDB parses it as a single SELECT (`SHOW` and
`DESCRIBE` are selects there); `SET`, `SHOW` of session settings, transaction control and `DISCARD` are
answered here and never reach DuckDB, which also has external access and configuration changes locked
(sql/engine.py). Each statement runs on a worker thread and is interrupted past the statement timeout.
Errors answer with a SQLSTATE and the connection goes on, as PostgreSQL's do.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import pyarrow as pa

from sql import messages as m
from sql.catalog import SERVER_VERSION, to_duckdb
from sql.encoding import (
    BOOL,
    DATE,
    FLOAT4,
    FLOAT8,
    INT2,
    INT4,
    INT8,
    NUMERIC,
    TEXT,
    TIMESTAMP,
    TIMESTAMPTZ,
    Field,
    UnsupportedFormat,
    data_rows,
    field_of,
)  # fmt: skip

BATCH_ROWS = 65_536
_PG_EPOCH = datetime(2000, 1, 1)
_LOCAL = re.compile(
    r"^\s*(set|reset|show|begin|start|commit|end|rollback|abort|discard|deallocate|savepoint|release)\b",
    re.IGNORECASE,
)
_PARAM = re.compile(r"\$(\d+)")
_ANY_PARAM = re.compile(r"\b(?:ANY|ALL)\s*\(\s*\$(\d+)\s*\)", re.IGNORECASE)
_STRING = re.compile(r"'(?:[^']|'')*'")
DEFAULT_SETTINGS = {
    "server_version": SERVER_VERSION, "server_encoding": "UTF8", "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY", "TimeZone": "UTC", "integer_datetimes": "on", "IntervalStyle": "postgres",
    "standard_conforming_strings": "on", "is_superuser": "off", "transaction_isolation": "read committed",
    "transaction_read_only": "on", "default_transaction_read_only": "on", "search_path": "public",
    "extra_float_digits": "1", "application_name": "", "max_identifier_length": "63",
}  # fmt: skip


class SqlError(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass
class Statement:
    sql: str  # rewritten for DuckDB; empty for an empty query
    local: bool
    param_oids: list[int]


@dataclass
class Portal:
    statement: Statement
    params: list[Any]
    formats: list[int]
    fields: list[Field] | None = None
    rows: Iterator[pa.RecordBatch] | None = None
    sent: int = 0


@dataclass
class Session:
    cursor: duckdb.DuckDBPyConnection
    timeout_s: float
    settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    statements: dict[str, Statement] = field(default_factory=dict)
    portals: dict[str, Portal] = field(default_factory=dict)
    status: str = "I"  # I idle, T in a transaction block, E in a failed one
    skipping: bool = False  # after an error in an extended query, until Sync

    async def handle(self, kind: bytes, body: bytes, out: list[bytes]) -> bool:
        """Answer one message into `out`; False on Terminate."""
        if kind == b"X":
            return False
        if kind == b"S":
            self.skipping = False
            self.portals.pop("", None)
            out.append(m.ready(self.status))
            return True
        if kind == b"H":
            return True
        if self.skipping:
            return True
        try:
            if kind == b"Q":
                await self._simple(m.Reader(body).cstring(), out)
                out.append(m.ready(self.status))
            elif kind == b"P":
                name, query, oids = m.parse_parse(body)
                self.statements[name] = self.prepare(query, oids)
                out.append(m.PARSE_COMPLETE)
            elif kind == b"B":
                self._bind(m.parse_bind(body))
                out.append(m.BIND_COMPLETE)
            elif kind == b"D":
                reader = m.Reader(body)
                await self._describe(reader.byte(), reader.cstring(), out)
            elif kind == b"E":
                reader = m.Reader(body)
                await self._execute(reader.cstring(), reader.int32(), out)
            elif kind == b"C":
                reader = m.Reader(body)
                target, name = reader.byte(), reader.cstring()
                (self.statements if target == "S" else self.portals).pop(name, None)
                out.append(m.CLOSE_COMPLETE)
            else:
                raise SqlError("08P01", f"unsupported message type {kind!r}")
        except SqlError as exc:
            self._failed(exc, out, extended=kind != b"Q")
            if kind == b"Q":
                out.append(m.ready(self.status))
        return True

    def _failed(self, exc: SqlError, out: list[bytes], extended: bool) -> None:
        out.append(m.error(exc.code, str(exc)))
        if self.status == "T":
            self.status = "E"
        self.skipping = extended

    # -- simple query ---------------------------------------------------------------------------

    async def _simple(self, text: str, out: list[bytes]) -> None:
        parts = [p for p in split_statements(text) if p.strip()]
        if not parts:
            out.append(m.EMPTY_QUERY)
            return
        for part in parts:
            statement = self.prepare(part, [])
            portal = Portal(statement, [], [])
            fields = await self._fields(portal)
            if fields is not None:
                out.append(m.row_description([f.column() for f in fields], [0] * len(fields)))
            await self._execute_portal(portal, 0, out)

    # -- extended query -------------------------------------------------------------------------

    def prepare(self, query: str, oids: list[int]) -> Statement:
        local = bool(_LOCAL.match(query))
        sql = query.strip().rstrip(";") if local else to_duckdb(query)
        if not local and sql.strip():
            _check_read_only(sql)
        bare = _STRING.sub("", sql)
        count = max((int(n) for n in _PARAM.findall(bare)), default=0)
        oids = (oids + [0] * count)[: max(count, len(oids))]
        for n in _ANY_PARAM.findall(bare):  # an untyped `= ANY($1)` is a list (psycopg sends lists untyped)
            if oids[int(n) - 1] == 0:
                oids[int(n) - 1] = 1009
        return Statement(sql, local, oids)

    def _bind(self, bind: m.Bind) -> None:
        statement = self.statements.get(bind.statement)
        if statement is None:
            raise SqlError("26000", f"prepared statement {bind.statement!r} does not exist")
        formats = bind.param_formats or [0]
        values = [
            decode_param(value, statement.param_oids[i] if i < len(statement.param_oids) else 0,
                         formats[i] if len(formats) > 1 else formats[0])
            for i, value in enumerate(bind.params)
        ]  # fmt: skip
        self.portals[bind.portal] = Portal(statement, values, bind.result_formats)

    async def _describe(self, target: str, name: str, out: list[bytes]) -> None:
        if target == "S":
            statement = self.statements.get(name)
            if statement is None:
                raise SqlError("26000", f"prepared statement {name!r} does not exist")
            out.append(m.parameter_description([o or TEXT for o in statement.param_oids]))
            portal = Portal(statement, [None] * len(statement.param_oids), [])
        else:
            found = self.portals.get(name)
            if found is None:
                raise SqlError("34000", f"portal {name!r} does not exist")
            portal = found
        fields = await self._fields(portal)
        if fields is None:
            out.append(m.NO_DATA)
            return
        formats = _formats(portal.formats if target == "P" else [], len(fields))
        out.append(m.row_description([f.column() for f in fields], formats))

    async def _execute(self, name: str, limit: int, out: list[bytes]) -> None:
        portal = self.portals.get(name)
        if portal is None:
            raise SqlError("34000", f"portal {name!r} does not exist")
        await self._execute_portal(portal, limit, out)

    # -- running ------------------------------------------------------------------------------

    async def _fields(self, portal: Portal) -> list[Field] | None:
        """The portal's result columns (None: a command without rows)."""
        statement = portal.statement
        if statement.local:
            word = statement.sql.split()[0].lower() if statement.sql else ""
            return [Field(statement.sql.split()[-1].strip('"').lower(), TEXT)] if word == "show" else None
        if not statement.sql.strip():
            return None
        if portal.fields is None:
            relation = await self._run(lambda: self.cursor.sql(statement.sql, params=portal.params or None))
            portal.fields = [
                field_of(c, str(t)) for c, t in zip(relation.columns, relation.types, strict=True)
            ]
        return portal.fields

    async def _execute_portal(self, portal: Portal, limit: int, out: list[bytes]) -> None:
        statement = portal.statement
        if statement.local:
            out.extend(self._local(statement.sql))
            return
        if not statement.sql.strip():
            out.append(m.EMPTY_QUERY)
            return
        fields = await self._fields(portal)
        assert fields is not None
        formats = _formats(portal.formats, len(fields))
        if portal.rows is None:
            reader = await self._run(
                lambda: self.cursor.sql(statement.sql, params=portal.params or None).to_arrow_reader(
                    BATCH_ROWS
                )
            )
            portal.rows = iter(reader)
        batches = portal.rows
        sent_now = 0
        while True:
            batch = await self._run(lambda: next(batches, None))
            if batch is None:
                break
            if (
                limit > 0 and sent_now + batch.num_rows > limit
            ):  # a cursor fetching in pages (JDBC fetch size)
                keep = limit - sent_now
                out.append(self._rows(batch.slice(0, keep), fields, formats))
                portal.rows = _chain(batch.slice(keep), batches)
                portal.sent += keep
                out.append(m.PORTAL_SUSPENDED)
                return
            out.append(self._rows(batch, fields, formats))
            sent_now += batch.num_rows
            portal.sent += batch.num_rows
        out.append(m.command_complete(f"SELECT {portal.sent}"))

    def _rows(self, batch: pa.RecordBatch, fields: list[Field], formats: list[int]) -> bytes:
        try:
            return data_rows(batch, fields, formats)
        except UnsupportedFormat as exc:
            raise SqlError("0A000", str(exc)) from None

    async def _run(self, work: Any) -> Any:
        """`work` on a worker thread, interrupted after the statement timeout."""
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.timeout_s, self.cursor.interrupt)
        try:
            return await asyncio.to_thread(work)
        except duckdb.InterruptException:
            raise SqlError(
                "57014", f"canceling statement due to statement timeout ({self.timeout_s:g} s)"
            ) from None
        except duckdb.Error as exc:
            raise SqlError(_sqlstate(exc), str(exc).split("\n\n")[0]) from None
        finally:
            timer.cancel()

    def _local(self, sql: str) -> list[bytes]:
        words = sql.split()
        verb = words[0].lower()
        if verb == "show":
            name = words[-1].strip('"')
            value = next((v for k, v in self.settings.items() if k.lower() == name.lower()), None)
            if value is None:
                raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
            return [_row(value), m.command_complete("SHOW")]
        if verb == "set":
            assignment = re.match(
                r"set\s+(?:session\s+|local\s+)?([\w.]+)\s*(?:=|\bto\b)\s*(.+)$", sql, re.I | re.S
            )
            if assignment:
                self.settings[assignment[1]] = assignment[2].strip().strip("'")
            return [m.command_complete("SET")]
        if verb in ("begin", "start"):
            self.status = "T"
            return [m.command_complete("BEGIN")]
        if verb in ("commit", "end", "rollback", "abort"):
            self.status = "I"
            return [m.command_complete("ROLLBACK" if verb in ("rollback", "abort") else "COMMIT")]
        return [m.command_complete(verb.upper())]


def _row(value: str) -> bytes:
    data = value.encode()
    return m.message(b"D", (1).to_bytes(2, "big") + len(data).to_bytes(4, "big") + data)


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _formats(requested: list[int], count: int) -> list[int]:
    if not requested:
        return [0] * count
    return requested * count if len(requested) == 1 else requested


def _check_read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError("42601", str(exc).split("\n\n")[0]) from None
    if len(statements) != 1:
        raise SqlError("42601", "one statement at a time in a prepared statement")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise SqlError("25006", "this endpoint is read-only: only queries (SELECT) run here")


def _sqlstate(exc: duckdb.Error) -> str:
    for kind, code in (
        (duckdb.ParserException, "42601"), (duckdb.CatalogException, "42P01"),
        (duckdb.BinderException, "42703"), (duckdb.ConversionException, "22P02"),
        (duckdb.OutOfRangeException, "22003"), (duckdb.PermissionException, "42501"),
        (duckdb.InvalidInputException, "22023"), (duckdb.OutOfMemoryException, "53200"),
    ):  # fmt: skip
        if isinstance(exc, kind):
            return code
    return "XX000"


def split_statements(text: str) -> list[str]:
    """`text` cut at semicolons outside quotes and comments."""
    parts, start, i, n = [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            end = text.find(c, i + 1)
            while end != -1 and end + 1 < n and text[end + 1] == c:
                end = text.find(c, end + 2)
            i = n if end == -1 else end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end == -1 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end == -1 else end + 2
        elif c == ";":
            parts.append(text[start:i])
            i += 1
            start = i
        else:
            i += 1
    parts.append(text[start:])
    return parts


def decode_param(value: bytes | None, oid: int, binary: int) -> Any:
    """A bound parameter as the Python value DuckDB binds (text of unknown type stays text)."""
    if value is None:
        return None
    try:
        if binary:
            return _decode_binary(value, oid)
        text = value.decode()
        if oid in (INT2, INT4, INT8):
            return int(text)
        if oid in (FLOAT4, FLOAT8):
            return float(text)
        if oid == NUMERIC:
            return Decimal(text)
        if oid == BOOL:
            return text.lower() in ("t", "true", "1", "yes", "on")
        if oid in _ARRAY_ELEMENTS:
            element = _ARRAY_ELEMENTS[oid]
            return [None if v is None else decode_param(v.encode(), element, 0) for v in parse_array(text)]
        return text
    except (ValueError, UnicodeDecodeError, InvalidOperation) as exc:
        raise SqlError("22P02", f"invalid parameter value for type oid {oid}: {exc}") from None


_ARRAY_ELEMENTS = {1009: TEXT, 1015: TEXT, 1007: INT4, 1016: INT8, 1005: INT2, 1231: NUMERIC}
_ELEMENT = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,{}"]*?))\s*(?:,|$)')


def parse_array(text: str) -> list[str | None]:
    """A one-dimensional PostgreSQL array literal's elements (`{a,"b c",NULL}`)."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise ValueError(f"not an array literal: {text[:40]!r}")
    inner = inner[1:-1]
    if not inner.strip():
        return []
    values: list[str | None] = []
    for match in _ELEMENT.finditer(inner):
        if match.end() == match.start():
            break
        quoted, plain = match[1], match[2]
        if quoted is not None:
            values.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            values.append(None if plain.upper() == "NULL" else plain)
    return values


def _decode_binary(value: bytes, oid: int) -> Any:
    if oid in (INT2, INT4, INT8):
        return int.from_bytes(value, "big", signed=True)
    if oid == FLOAT4:
        return float(__import__("struct").unpack("!f", value)[0])
    if oid == FLOAT8:
        return float(__import__("struct").unpack("!d", value)[0])
    if oid == BOOL:
        return value != b"\0"
    if oid == DATE:
        return date(2000, 1, 1) + timedelta(days=int.from_bytes(value, "big", signed=True))
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        return _PG_EPOCH + timedelta(microseconds=int.from_bytes(value, "big", signed=True))
    if oid in (TEXT, 1043, 0, 705):
        return value.decode()
    raise SqlError("0A000", f"binary parameters of type oid {oid} are not supported: send them as text")
