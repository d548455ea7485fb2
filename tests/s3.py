"""An S3-protocol server for the lake tests: moto's server mode (PyPI `moto[server]`) on a free port, a
bucket per test emptied and deleted afterwards, and a proxy in front of it that can misbehave on cue.

moto keeps objects in memory and honours conditional writes (If-None-Match: *), as AWS S3 and MinIO do.
The proxy forwards every request unchanged except where a test asks: it can strip If-None-Match (a store
that silently ignores conditional writes), or run a test's action right before forwarding a chosen PUT
(another writer committing the next Delta log version first).
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

from c360.settings import StorageSettings

REGION = "us-east-1"
KEY = "testing"  # moto accepts any credentials


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT

    @classmethod
    @contextmanager
    def start(cls, log: Path) -> Iterator[S3Server]:
        """moto_server on a free port of 127.0.0.1 until the block ends."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        moto = Path(sys.executable).with_name("moto_server")
        with log.open("wb") as out:
            proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
        server = cls(f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, f"moto_server exited: {log.read_text()[-2000:]}"
                try:
                    urllib.request.urlopen(server.endpoint, timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "moto_server did not answer in 30 s"
                    time.sleep(0.1)
            yield server
        finally:
            proc.terminate()
            proc.wait(10)

    def storage(self, endpoint: str | None = None) -> StorageSettings:
        """lake.storage for this server (or for a proxy in front of it)."""
        return StorageSettings(
            endpoint=endpoint or self.endpoint,
            region=REGION,
            access_key_id=KEY,
            secret_access_key=KEY,
            allow_http=True,
        )

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY,
            aws_secret_access_key=KEY,
        )

    @contextmanager
    def bucket(self) -> Iterator[str]:
        """A new bucket, emptied and deleted afterwards."""
        name = f"c360-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        try:
            yield name
        finally:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=name, Delete={"Objects": keys})
            client.delete_bucket(Bucket=name)


def objects(storage: StorageSettings, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under `prefix`, listed and read through boto3: what the store really holds."""
    assert storage.endpoint is not None
    client = _client(storage.endpoint)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for meta in page.get("Contents", []):
            found[meta["Key"]] = client.get_object(Bucket=bucket, Key=meta["Key"])["Body"].read()
    return found


def _client(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEY, aws_secret_access_key=KEY
    )


@dataclass
class Proxy:
    """Forwards HTTP to `upstream`; `strip_if_none_match` and `before_put` make it misbehave."""

    upstream: str
    strip_if_none_match: bool = False
    # (path pattern, action): the action runs once, before the first PUT whose path matches.
    before_put: list[tuple[re.Pattern[str], Callable[[], None]]] = field(default_factory=list)
    statuses: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    endpoint: str = ""

    @contextmanager
    def running(self) -> Iterator[Proxy]:
        proxy = self
        host, port = self.upstream.removeprefix("http://").split(":")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                if proxy.strip_if_none_match:
                    headers = {k: v for k, v in headers.items() if k.lower() != "if-none-match"}
                if self.command == "PUT":
                    for i, (pattern, action) in enumerate(proxy.before_put):
                        if pattern.search(self.path):
                            del proxy.before_put[i]
                            action()
                            break
                upstream = http.client.HTTPConnection(host, int(port), timeout=60)
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                proxy.statuses.append((self.command, self.path, answer.status))
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                length = answer.getheader("Content-Length") if self.command == "HEAD" else len(data)
                self.send_header("Content-Length", str(length or 0))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name="s3-proxy", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
