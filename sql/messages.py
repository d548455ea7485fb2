"""PostgreSQL protocol 3.0 messages, pure: frontend messages parsed from bytes, backend ones built.

Only what a read-only endpoint needs (https://www.postgresql.org/docs/current/protocol-message-formats.html):
startup, SSL request, cleartext password, simple and extended queries, describe, close, sync, flush,
terminate. Every length read is checked against the bytes there, and a message past `MAX_MESSAGE`
bytes is refused before it is read, so a hostile client costs at most that much memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
MAX_MESSAGE = 1 << 20  # a query text or a bound parameter list past 1 MB is refused

_I16, _I32 = struct.Struct("!h"), struct.Struct("!i")


class ProtocolError(ValueError):
    """The client sent something the protocol does not allow; the connection is closed after saying so."""


class Reader:
    """Fields of one message body, read in order."""

    def __init__(self, body: bytes) -> None:
        self.body, self.at = body, 0

    def int16(self) -> int:
        return _I16.unpack(self._take(2))[0]

    def int32(self) -> int:
        return _I32.unpack(self._take(4))[0]

    def byte(self) -> str:
        return self._take(1).decode("latin-1")

    def cstring(self) -> str:
        end = self.body.find(b"\0", self.at)
        if end < 0:
            raise ProtocolError("unterminated string in message")
        text = self.body[self.at : end].decode("utf-8", errors="replace")
        self.at = end + 1
        return text

    def bytes_or_null(self) -> bytes | None:
        size = self.int32()
        return None if size < 0 else self._take(size)

    def _take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.body):
            raise ProtocolError("message shorter than its fields")
        chunk = self.body[self.at : self.at + n]
        self.at += n
        return chunk


def startup_parameters(body: bytes) -> dict[str, str]:
    """A startup message's `name\\0value\\0...\\0` pairs (after the protocol version)."""
    reader, params = Reader(body), {}
    while reader.at < len(body) - 1:
        name = reader.cstring()
        params[name] = reader.cstring()
    return params


@dataclass(frozen=True)
class Bind:
    portal: str
    statement: str
    param_formats: list[int]
    params: list[bytes | None]
    result_formats: list[int]


def parse_bind(body: bytes) -> Bind:
    r = Reader(body)
    portal, statement = r.cstring(), r.cstring()
    formats = [r.int16() for _ in range(r.int16())]
    params = [r.bytes_or_null() for _ in range(r.int16())]
    results = [r.int16() for _ in range(r.int16())]
    return Bind(portal, statement, formats, params, results)


def parse_parse(body: bytes) -> tuple[str, str, list[int]]:
    r = Reader(body)
    name, query = r.cstring(), r.cstring()
    return name, query, [r.int32() for _ in range(r.int16())]


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + _I32.pack(len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def authentication(code: int) -> bytes:
    return message(b"R", _I32.pack(code))


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstr(name) + cstr(value))


def backend_key(pid: int, secret: int) -> bytes:
    return message(b"K", _I32.pack(pid) + _I32.pack(secret))


def ready(status: str = "I") -> bytes:
    return message(b"Z", status.encode())


def command_complete(tag: str) -> bytes:
    return message(b"C", cstr(tag))


def error(code: str, text: str, severity: str = "ERROR") -> bytes:
    fields = b"S" + cstr(severity) + b"V" + cstr(severity) + b"C" + cstr(code) + b"M" + cstr(text)
    return message(b"E", fields + b"\0")


def parameter_description(oids: list[int]) -> bytes:
    return message(b"t", _I16.pack(len(oids)) + b"".join(_I32.pack(o) for o in oids))


@dataclass(frozen=True)
class Column:
    """One column of a RowDescription."""

    name: str
    oid: int
    size: int = -1
    modifier: int = -1


def row_description(columns: list[Column], formats: list[int]) -> bytes:
    body = _I16.pack(len(columns))
    for i, c in enumerate(columns):
        body += cstr(c.name) + struct.pack("!ihihih", 0, 0, c.oid, c.size, c.modifier, formats[i])
    return message(b"T", body)


PARSE_COMPLETE = message(b"1")
BIND_COMPLETE = message(b"2")
CLOSE_COMPLETE = message(b"3")
NO_DATA = message(b"n")
EMPTY_QUERY = message(b"I")
PORTAL_SUSPENDED = message(b"s")
