"""Why an input was refused: every error names the field it is about, for the dead letter and the API."""

from __future__ import annotations


class IngestError(ValueError):
    """Base of every refusal of input; `reason` is a stable short code, `field` the offending path."""

    reason = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DecodeError(IngestError):
    """The bytes are not a JSON object we can read (not UTF-8, not JSON, too large, not an object)."""

    reason = "decode"


class MappingError(IngestError):
    """The payload parsed but a field the mapping needs is missing or of the wrong type."""

    reason = "mapping"


class InvalidEventError(IngestError):
    """The mapped values break the canonical model (bad email, bad phone, naive time, ...)."""

    reason = "invalid_event"
