"""The one accept path: HTTP routes and the MQTT bridge both turn a payload into a queue message here.

Validation is light and per request (shape, variables, times); the per-record work of normalization happens
in the workers.

One rule for new variables, whatever the protocol or credential: a dataset that accepts new variables registers
a variable on its first reading; one that does not refuses the request with a 400 naming the variable. AutoPi
uploads are the exception in form only: the dongle resends anything answered 4xx forever, so their records
with unknown variables are set aside as rejected records (naming the variable) and the rest is stored.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from services.ingest import thingspeak as ts
from services.ingest.credentials import Credential
from shared import lineproto, telemetry
from shared.config import Settings
from shared.errors import BadRequest, PayloadTooLarge, Unauthorized
from shared.queue import QueueMessage, Source, make_message
from shared.thingspeak import zone
from shared.values import TimeWindow, ValueProblem, columns, flatten, parse_time


def admit(credential: Credential, tag: str, where: str) -> None:
    """Refuse `tag` unless it is registered or the dataset accepts new variables."""
    if tag not in credential.known and not credential.accepts_new:
        raise BadRequest(
            f"unknown variable {tag!r} in {where}: this dataset does not accept new variables; "
            "register it on the dataset first, or turn on accept new variables"
        )


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

    def push(self, credential: Credential, params: Mapping[str, object], *, source: Source) -> QueueMessage:
        """One entry of a ThingSpeak-style push (`field1`.., a variable's tag, lat/long/elevation/status,
        `created_at` with an optional `timezone`); it asks for one entry id."""
        values = ts.entry_values(params, credential, ts.UPDATE_META, ts.UPDATE_IGNORED)
        if not values:
            raise BadRequest("no values: send at least one field<N>=<value> (or <variable>=<value>)")
        extra: dict[str, object] = {"entries": 1}
        tz = zone(params.get("timezone"))
        if (created_at := params.get("created_at")) not in (None, ""):
            moment = ts.parse_moment(created_at, "created_at", tz, self._window())
            extra["created_at"] = moment.isoformat()
        return make_message(
            "push", credential.dataset_id, values, source=source, device=credential.device, params=extra
        )

    def bulk(self, credential: Credential, updates: object, *, source: Source, timezone: object = None) -> QueueMessage:
        """ThingSpeak bulk updates (each with created_at or delta_t) as one message asking for their entry ids."""
        entries = ts.bulk_entries(updates, credential, zone(timezone), self._window(), self.settings.max_records)
        return make_message(
            "bulk",
            credential.dataset_id,
            {"entries": entries},
            source=source,
            device=credential.device,
            params={"entries": len(entries)},
        )

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
        for index, reading in enumerate(readings):
            where = f"readings[{index}]"
            if not isinstance(reading, dict):
                raise BadRequest(f"{where} must be an object")
            if reading.get("time") is not None:
                self._check_time(reading["time"], f"{where}.time")
            device = reading.get("device")
            if device is not None and (not isinstance(device, str) or not 0 < len(device) <= 200 or "\x00" in device):
                raise BadRequest(f"{where}.device must be a string of 1 to 200 characters, without NUL")
            values = reading.get("values")
            if not isinstance(values, dict) or not values:
                raise BadRequest(f"{where}.values must be a non-empty object")
            try:
                leaves = list(flatten(values))
            except ValueProblem as problem:
                raise BadRequest(f"{where}.values: {problem}") from None
            for tag, value in leaves:
                admit(credential, tag, where)
                try:
                    columns(value)
                except ValueProblem as problem:
                    raise BadRequest(f"{where}.values.{tag}: {problem}") from None
        return make_message("native", credential.dataset_id, body.decode(), source=source, device=credential.device)

    def autopi(self, credential: Credential, body: bytes, *, source: Source) -> QueueMessage:
        """An AutoPi upload: a JSON array of `@t`/`@ts` records, checked only for its shape and count.

        The records themselves are checked one by one in the worker, so that one bad record is kept aside
        without refusing the rest: a device resends anything answered 4xx, forever.
        """
        try:
            records = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"body is not JSON: {error}") from None
        if not isinstance(records, list):
            raise BadRequest(f"body must be a JSON array of records, not a JSON {type(records).__name__}")
        if len(records) > self.settings.max_records:
            raise PayloadTooLarge(f"{len(records)} records in one request; at most {self.settings.max_records}")
        # a dataset closed to new variables: the worker sets aside records that would register one
        params = None if credential.accepts_new else {"variables": list(credential.variables)}
        return make_message(
            "autopi", credential.dataset_id, body.decode(), source=source, device=credential.device, params=params
        )

    def lineproto(self, credential: Credential, body: bytes, precision: str, *, source: Source) -> QueueMessage:
        """InfluxDB line protocol; the whole body is parsed so that a bad line refuses it all (naming the line)."""
        if precision not in lineproto.PRECISIONS:
            raise BadRequest(f"invalid precision {precision!r}: use ns, us, ms or s")
        try:
            text = body.decode()
        except UnicodeDecodeError as error:
            raise BadRequest(f"body is not UTF-8 (byte {error.start})") from None
        earliest, latest = lineproto.window_ns(self._window())
        factor, count = lineproto.PRECISIONS[precision], 0
        for number, line in lineproto.lines(text):
            try:
                point = lineproto.parse_line(line, factor)
                lineproto.check_point(point, earliest, latest)
            except lineproto.LineProblem as problem:
                raise BadRequest(str(lineproto.LineError(number, str(problem), line))) from None
            if not credential.accepts_new:
                for tag in (lineproto.variable(point.measurement, f) for f in point.fields):
                    admit(credential, tag, f"line {number}")
            count += 1
        if not count:
            raise BadRequest("writing requires points: the body has no lines")
        return make_message(
            "lineproto",
            credential.dataset_id,
            text,
            source=source,
            device=credential.device,
            params={"precision": precision},
        )

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
        try:
            items = telemetry.entries(document)
            if len(items) > self.settings.max_records:
                raise BadRequest(f"{len(items)} entries in one message; at most {self.settings.max_records}")
            for index, item in enumerate(items):
                moment, values = telemetry.entry_values(item)
                if moment is not None:
                    window.check(moment)
                for tag, value in flatten(values):
                    admit(credential, tag, f"entry {index}")
                    columns(value)
        except ValueProblem as problem:
            raise BadRequest(str(problem)) from None
        return make_message("telemetry", credential.dataset_id, body.decode(), source=source, device=credential.device)
