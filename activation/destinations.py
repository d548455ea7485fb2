"""HTTP destinations, pure: their file, what each receives of the outbound records (streams, segments,
the marketing-consent rule), how a body is signed, how long a retry waits.

    version: 1
    destinations:
      - name: crm                          # [a-z][a-z0-9_-]*
        url: https://crm.example.com/c360/hooks
        streams: [segment_changes]         # any of profiles, segment_changes, identity_changes
        segments: [churning]               # only these segments' changes (default: all)
        marketing: true                    # never a profile without marketing consent (below)
        secret_file: /run/secrets/crm_hmac # the HMAC-SHA256 key (or secret_env: CRM_HMAC_KEY)
        batch_size: 50                     # records per request
        rate_per_second: 10                # requests per second, at most
        max_attempts: 5                    # then the batch goes to the dead-letter collection
        timeout_seconds: 5
        backoff_seconds: 0.5               # the first retry's wait; doubled each time, with jitter

A request is `POST url` with the JSON body `{"destination", "records": [{topic, key, idempotency_key,
value}]}` and the headers `X-C360-Timestamp: <unix seconds>` and `X-C360-Signature: v1=<hex>`, the
HMAC-SHA256 of `<timestamp>.<body>` under the destination's key. A receiver recomputes it, compares in
constant time and refuses old timestamps (replays).

Marketing destinations: a segment change is sent as the receiver's audience sees it, member *and*
consenting: entering without consent sends nothing, and a consent withdrawal while in a segment is sent
as an exit (`reason: consent_withdrawn`). A profile record is sent only with marketing consent true.
Merges and erasures (ids only, never a profile's content) go to every destination.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from activation.messages import PROFILES, SEGMENT_CHANGES

Stream = Literal["profiles", "segment_changes", "identity_changes"]
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-C360-Signature", "X-C360-Timestamp"


class Destination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    streams: list[Stream] = Field(min_length=1)
    segments: list[str] | None = None
    marketing: bool = False
    secret_file: Path | None = None
    secret_env: str | None = None
    batch_size: int = Field(50, ge=1, le=10_000)
    rate_per_second: float = Field(10.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=100)
    timeout_seconds: float = Field(5.0, gt=0, le=300)
    backoff_seconds: float = Field(0.5, ge=0)
    max_backoff_seconds: float = Field(60.0, ge=0)

    @model_validator(mode="after")
    def _one_secret(self) -> Destination:
        if (self.secret_file is None) == (self.secret_env is None):
            raise ValueError(f"destination {self.name}: give exactly one of `secret_file` or `secret_env`")
        return self

    def secret(self) -> bytes:
        """The HMAC key, read when a delivery starts (never kept in the settings tree)."""
        if self.secret_file is not None:
            value = self.secret_file.read_text().strip()
        else:
            value = os.environ.get(self.secret_env or "", "")
        if len(value) < 16:
            raise ValueError(f"destination {self.name}: its HMAC key must be at least 16 characters")
        return value.encode()


class DestinationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    destinations: list[Destination]

    @model_validator(mode="after")
    def _unique(self) -> DestinationFile:
        names = [d.name for d in self.destinations]
        if len(set(names)) != len(names):
            raise ValueError("destination names must be unique")
        return self


def load_destinations(path: Path) -> list[Destination]:
    with path.open() as fh:
        return DestinationFile.model_validate(yaml.safe_load(fh)).destinations


def select(destination: Destination, stream: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
    """What `destination` receives of one record of `stream` (None: nothing); a tombstone is never sent
    (its `erased` notice, just before it, is)."""
    if value is None or stream not in destination.streams:
        return None
    if stream == SEGMENT_CHANGES and "segment" in value:
        if destination.segments is not None and value["segment"] not in destination.segments:
            return None
        return _audience_change(value, destination.marketing)
    if stream == PROFILES and value.get("type") == "profile" and destination.marketing:
        consent = value.get("profile", {}).get("consent", {}).get("marketing", {})
        return value if consent.get("value") is True else None
    return value


def _audience_change(value: dict[str, Any], marketing: bool) -> dict[str, Any] | None:
    was, now = value["was_member"], value["member"]
    if marketing:
        was, now = was and value["was_consent"], now and value["consent"]
    if was == now:
        return None
    change = {**value, "change": "entered" if now else "exited"}
    if not now and value["member"]:
        change["reason"] = "consent_withdrawn"
    return change


def sign(secret: bytes, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers that let a receiver check the body came from c360, unaltered, recently."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"v1={digest}"}


def backoff(destination: Destination, attempt: int, rng: random.Random) -> float:
    """Seconds before retry `attempt` (1 = the first retry): exponential with full jitter, capped."""
    ceiling = min(destination.max_backoff_seconds, destination.backoff_seconds * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)
