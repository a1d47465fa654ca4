"""What every ingest format shares: its signature, the limits it checks against, and the checks it reuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from services.ingest.credentials import Credential
from shared.config import Settings
from shared.errors import BadRequest
from shared.queue import Format, QueueMessage, Source
from shared.values import TimeWindow


@dataclass(frozen=True, slots=True)
class Limits:
    """What one payload may hold: times within the accepted window, at most `max_records` records."""

    min_year: int
    max_future_s: int
    max_records: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.reading_min_year, settings.reading_max_future_s, settings.max_records)

    def window(self) -> TimeWindow:
        """The accepted times as of now (made per payload: its end moves with the clock)."""
        return TimeWindow(self.min_year, self.max_future_s)


class Accept(Protocol):
    """A format's check: (credential, payload, limits) to one queue message; bad input raises BadRequest.

    `options` are the format's own (lineproto: precision; bulk: timezone)."""

    def __call__(
        self,
        credential: Credential,
        payload: Any,
        limits: Limits,
        *,
        source: Source,
        **options: Any,
    ) -> QueueMessage: ...


def raw_payload(payload: bytes, field: str | None) -> object:
    """An MQTT payload as most formats take it: the bytes themselves."""
    return payload


@dataclass(frozen=True, slots=True)
class IngestFormat:
    """One wire format on the ingest side, the twin of its normalizer in services/worker/normalize/."""

    name: Format
    accept: Accept
    # its name in `registered/{dataset}/{device}/{topic}` MQTT topics (None: not published over MQTT that way)
    topic: str | None = None
    # an MQTT payload (with the variable a single-field topic names, if any) as `accept` takes it
    from_mqtt: Callable[[bytes, str | None], object] = raw_payload


def admit(credential: Credential, variable: str, where: str) -> None:
    """Refuse `variable` unless it is registered or the dataset accepts new variables."""
    if variable not in credential.known and not credential.accepts_new:
        raise BadRequest(
            f"unknown variable {variable!r} in {where}: this dataset does not accept new variables; "
            "register it on the dataset first, or turn on accept new variables"
        )


def json_document(body: bytes) -> Any:
    """The JSON of a body; 400 naming the problem when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"body is not JSON: {error}") from None


def utf8(payload: bytes, what: str = "body") -> str:
    try:
        return payload.decode()
    except UnicodeDecodeError as error:
        raise BadRequest(f"{what} is not UTF-8 (byte {error.start})") from None
