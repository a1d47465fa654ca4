"""The one accept path: HTTP routes and the MQTT bridge both turn a payload into a queue message here.

Validation is light and per request (shape, registered variables, times); the per-record work of
normalization happens in the workers.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from services.ingest.credentials import Credential
from shared import telemetry
from shared.config import Settings
from shared.errors import BadRequest, Unauthorized
from shared.queue import QueueMessage, Source, make_message
from shared.values import TimeWindow, ValueProblem, columns, flatten, parse_time

# /update parameters that are not variables
PUSH_RESERVED = frozenset({"key", "api_key", "created_at"})


def require_writer(credential: Credential | None, dataset_id: int | None = None) -> Credential:
    """The credential if it may write `dataset_id` (or any dataset when None); 401 otherwise."""
    if credential is None:
        raise Unauthorized("missing or invalid write key")
    if not credential.can_write:
        raise Unauthorized("this key cannot write; use the dataset's write key")
    if dataset_id is not None and credential.dataset_id != dataset_id:
        raise Unauthorized(f"this key does not write dataset {dataset_id}")
    return credential


class Acceptor:
    """Validates payloads for a credential and makes queue messages of them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _window(self) -> TimeWindow:
        return TimeWindow(self.settings.reading_min_year, self.settings.reading_max_future_s)

    def push(self, credential: Credential, params: Mapping[str, str], *, source: Source) -> QueueMessage:
        """`tag=value` pairs for the dataset's registered variables, with an optional `created_at`."""
        values = {k: v for k, v in params.items() if k not in PUSH_RESERVED}
        if not values:
            raise BadRequest("no values: send at least one <variable>=<value>")
        registered = set(credential.variables)
        unknown = sorted(tag for tag in values if tag not in registered)
        if unknown:
            raise BadRequest(f"unknown variable {unknown[0]!r}: register it on the dataset first")
        extra: dict[str, str] = {}
        if created_at := params.get("created_at"):
            self._check_time(created_at, "created_at")
            extra["created_at"] = created_at
        return make_message("push", credential.dataset_id, values, source=source,
                            device=credential.device, params=extra)

    def native(self, credential: Credential, body: bytes, *, source: Source) -> QueueMessage:
        """{"readings": [{"time": ISO, "device": str, "values": {...}}]} with registered variables only."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"body is not JSON: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("readings"), list):
            raise BadRequest('body must be an object {"readings": [...]}')
        readings = document["readings"]
        if not readings:
            raise BadRequest("readings is empty")
        if len(readings) > self.settings.max_records:
            raise BadRequest(f"{len(readings)} readings in one request; at most {self.settings.max_records}")
        registered = set(credential.variables)
        for index, reading in enumerate(readings):
            where = f"readings[{index}]"
            if not isinstance(reading, dict):
                raise BadRequest(f"{where} must be an object")
            if reading.get("time") is not None:
                self._check_time(reading["time"], f"{where}.time")
            device = reading.get("device")
            if device is not None and (not isinstance(device, str) or not 0 < len(device) <= 200):
                raise BadRequest(f"{where}.device must be a string of 1 to 200 characters")
            values = reading.get("values")
            if not isinstance(values, dict) or not values:
                raise BadRequest(f"{where}.values must be a non-empty object")
            for tag, value in flatten(values):
                if tag not in registered:
                    raise BadRequest(f"unknown variable {tag!r} in {where}: register it on the dataset first")
                try:
                    columns(value)
                except ValueProblem as problem:
                    raise BadRequest(f"{where}.values.{tag}: {problem}") from None
        return make_message("native", credential.dataset_id, body.decode(), source=source,
                            device=credential.device)

    def _check_time(self, text: object, where: str) -> None:
        try:
            self._window().check(parse_time(text))
        except ValueProblem as problem:
            raise BadRequest(f"{where}: {problem}") from None

    def telemetry(self, credential: Credential, body: bytes, *, source: Source) -> QueueMessage:
        """ThingsBoard telemetry: {"tag": v}, {"ts": epoch_ms, "values": {...}}, or an array of these."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"body is not JSON: {error}") from None
        window = self._window()
        registered = set(credential.variables)
        try:
            items = telemetry.entries(document)
            if len(items) > self.settings.max_records:
                raise BadRequest(f"{len(items)} entries in one message; at most {self.settings.max_records}")
            for index, item in enumerate(items):
                moment, values = telemetry.entry_values(item)
                if moment is not None:
                    window.check(moment)
                for tag, value in flatten(values):
                    if tag not in registered:
                        raise BadRequest(f"unknown variable {tag!r} in entry {index}: register it on the dataset first")
                    columns(value)
        except ValueProblem as problem:
            raise BadRequest(str(problem)) from None
        return make_message("telemetry", credential.dataset_id, body.decode(), source=source,
                            device=credential.device)
