"""InfluxDB line protocol; the whole body is parsed so that a bad line refuses it all (naming the line)."""

from __future__ import annotations

from typing import Any

from services.ingest.credentials import Credential
from services.ingest.formats.base import IngestFormat, Limits, admit
from shared import lineproto
from shared.errors import BadRequest
from shared.queue import QueueMessage, Source, make_message

DEFAULT_PRECISION = "ns"  # InfluxDB's; an MQTT topic has no room for a query string


def accept(credential: Credential, payload: bytes, limits: Limits, *, source: Source, **options: Any) -> QueueMessage:
    """Option: `precision` (ns, us, ms or s)."""
    precision = options.get("precision", DEFAULT_PRECISION)
    if precision not in lineproto.PRECISIONS:
        raise BadRequest(f"invalid precision {precision!r}: use ns, us, ms or s")
    try:
        text = payload.decode()
    except UnicodeDecodeError as error:
        raise BadRequest(f"body is not UTF-8 (byte {error.start})") from None
    earliest, latest = lineproto.window_ns(limits.window())
    factor, count = lineproto.PRECISIONS[precision], 0
    for number, line in lineproto.lines(text):
        try:
            point = lineproto.parse_line(line, factor)
            lineproto.check_point(point, earliest, latest)
        except lineproto.LineProblem as problem:
            raise BadRequest(str(lineproto.LineError(number, str(problem), line))) from None
        if not credential.accepts_new:
            for variable in (lineproto.variable(point.measurement, f) for f in point.fields):
                admit(credential, variable, f"line {number}")
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


FORMAT = IngestFormat("lineproto", accept, topic="influx")
