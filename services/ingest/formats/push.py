"""ThingSpeak's single-entry push (`/update`, `channels/{id}/publish[/fields/fieldN]/{key}`): one entry id each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from services.ingest import thingspeak as ts
from services.ingest.credentials import Credential
from services.ingest.formats.base import IngestFormat, Limits
from shared.errors import BadRequest
from shared.queue import QueueMessage, Source, make_message
from shared.thingspeak import zone

Params = Mapping[str, object]  # query and form parameters, merged


def accept(credential: Credential, payload: Params, limits: Limits, *, source: Source, **options: Any) -> QueueMessage:
    """`field1`.., a variable's tag, lat/long/elevation/status, `created_at` with an optional `timezone`."""
    values = ts.push_values(payload, credential, ts.UPDATE_META, ts.UPDATE_IGNORED)
    if not values:
        raise BadRequest("no values: send at least one field<N>=<value> (or <variable>=<value>)")
    extra: dict[str, object] = {"entries": 1}
    tz = zone(payload.get("timezone"))
    if (created_at := payload.get("created_at")) not in (None, ""):
        moment = ts.parse_moment(created_at, "created_at", tz, limits.window())
        extra["created_at"] = moment.isoformat()
    return make_message("push", credential.dataset_id, values, source=source, device=credential.device, params=extra)


def from_mqtt(payload: bytes, field: str | None) -> dict[str, str]:
    """A publish's `name=value&...` pairs, or the value of the one field its topic names."""
    text = _text(payload)
    if field is not None:
        return {field: text}
    params: dict[str, str] = {}
    for name, value in parse_qsl(text.strip(), keep_blank_values=True):
        if name in params:  # refused, as over HTTP
            raise BadRequest(f"parameter {name!r} given more than once")
        params[name] = value
    return params


def _text(payload: bytes) -> str:
    try:
        return payload.decode()
    except UnicodeDecodeError:
        raise BadRequest("payload is not UTF-8") from None


FORMAT = IngestFormat("push", accept, topic="publish", from_mqtt=from_mqtt)
