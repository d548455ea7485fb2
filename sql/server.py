"""The endpoint's network side: PostgreSQL clients connect, authenticate with an API key, and query.

A client logs in with a key's `name` as the user and the key itself as the password (api.keys; the
password travels as PostgreSQL's cleartext password message, so outside loopback the endpoint requires
TLS, `sql.tls_cert_file`). Every role may read; a key without the pii grant gets the masked database
(sql/engine.py). At most `sql.max_connections` sessions at once (the next one gets SQLSTATE 53300), each
statement at most `sql.statement_timeout_seconds`. Without keys it starts only in development mode,
where it asks for no password and every caller sees personal data, as the API does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from api.auth import KeyRing
from sql import messages as m
from sql.engine import Engine
from sql.session import DEFAULT_SETTINGS, Session

log = logging.getLogger(__name__)
_STARTUP_MAX = 10_000
_REPORTED = ("server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone",
             "integer_datetimes", "IntervalStyle", "standard_conforming_strings", "is_superuser")  # fmt: skip


class Refused(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass
class Endpoint:
    engine: Engine
    keys: KeyRing
    tls: ssl.SSLContext | None
    max_connections: int
    timeout_s: float
    sessions: int = 0

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        admitted = False
        try:
            params = await self._startup(reader, writer)
            if self.sessions >= self.max_connections:
                raise Refused("53300", f"sorry, too many clients already ({self.max_connections})")
            self.sessions += 1
            admitted = True
            pii = await self._authenticate(reader, writer, params.get("user", ""))
            await self._serve(reader, writer, params, pii)
        except Refused as exc:
            writer.write(m.error(exc.code, str(exc), "FATAL"))
        except (m.ProtocolError, asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as exc:
            log.debug("connection closed: %s", exc)
            with contextlib.suppress(Exception):
                writer.write(m.error("08P01", str(exc), "FATAL"))
        finally:
            self.sessions -= admitted
            with contextlib.suppress(Exception):
                await writer.drain()
                writer.close()

    async def _startup(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, str]:
        encrypted = False
        while True:
            size = struct.unpack("!i", await reader.readexactly(4))[0]
            if not 8 <= size <= _STARTUP_MAX:
                raise m.ProtocolError(f"invalid startup packet length {size}")
            body = await reader.readexactly(size - 4)
            code = struct.unpack("!i", body[:4])[0]
            if code == m.SSL_REQUEST and not encrypted:
                writer.write(b"S" if self.tls else b"N")
                await writer.drain()
                if self.tls:
                    await writer.start_tls(self.tls)
                    encrypted = True
                continue
            if code == m.GSSENC_REQUEST:
                writer.write(b"N")
                continue
            if code != m.PROTOCOL_3:
                raise Refused("0A000", f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}")
            if self.tls and not encrypted:
                raise Refused("28000", "this endpoint requires TLS (sslmode=require)")
            return m.startup_parameters(body[4:])

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, user: str
    ) -> bool:
        """Whether the caller sees personal data; Refused for a wrong key or user."""
        if self.keys.open:
            return True
        writer.write(m.authentication(3))  # cleartext password
        await writer.drain()
        kind, body = await _message(reader)
        if kind != b"p":
            raise m.ProtocolError("expected a password message")
        principal = self.keys.identify(m.Reader(body).cstring())
        if principal is None or principal.name != user:
            raise Refused("28P01", f'password authentication failed for user "{user}"')
        return principal.sees_pii

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, params: dict[str, str], pii: bool
    ) -> None:
        cursor = self.engine.cursor(pii)
        session = Session(cursor, self.timeout_s)
        session.settings["application_name"] = params.get("application_name", "")
        out = [m.authentication(0)]
        out += [m.parameter_status(k, session.settings.get(k, DEFAULT_SETTINGS[k])) for k in _REPORTED]
        out += [m.parameter_status("application_name", session.settings["application_name"])]
        out += [m.backend_key(secrets.randbits(31), secrets.randbits(31)), m.ready()]
        writer.write(b"".join(out))
        await writer.drain()
        try:
            while True:
                kind, body = await _message(reader)
                out = []
                going = await session.handle(kind, body, out)
                for chunk in out:
                    writer.write(chunk)
                    await writer.drain()
                if not going:
                    return
        finally:
            cursor.close()


async def _message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    header = await reader.readexactly(5)
    kind, size = header[:1], struct.unpack("!i", header[1:])[0]
    if not 4 <= size <= m.MAX_MESSAGE:
        raise m.ProtocolError(f"message of {size} bytes refused (limit {m.MAX_MESSAGE})")
    return kind, await reader.readexactly(size - 4)


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@contextlib.contextmanager
def refreshing(engine: Engine, every_s: float) -> Iterator[None]:
    """`engine.refresh()` every `every_s` seconds on a thread of its own, while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        for _ in itertools.count():
            try:
                engine.refresh()
            except Exception:  # the lake mid-write or a store hiccup: the next round tries again
                log.exception("refresh failed")
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=loop, name="sql-refresh", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class Insecure(RuntimeError):
    """The endpoint was asked to take passwords over the network in the clear."""


def check_exposure(host: str, tls: ssl.SSLContext | None, development: bool) -> None:
    if tls is None and host not in LOOPBACK and not development:
        raise Insecure(
            f"sql.host {host} without TLS would take API keys over the network in the clear: set "
            "sql.tls_cert_file and sql.tls_key_file, or listen on 127.0.0.1"
        )


async def run(endpoint: Endpoint, host: str, port: int, started: asyncio.Event | None = None) -> None:
    """Serve until cancelled."""
    server = await asyncio.start_server(endpoint.connection, host, port)
    async with server:
        if started is not None:
            started.set()
        await server.serve_forever()
