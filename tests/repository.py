"""Files of the repository itself (compose/, docs/, schemas) that tests read, by path from its root."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def repository_file(path: str) -> Path:
    return ROOT / path
