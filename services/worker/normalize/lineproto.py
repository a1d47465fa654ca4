"""InfluxDB line protocol: each field becomes a reading of variable `measurement.field`, tags kept with the series.

The receiver has already parsed the whole body with the same parser (shared.lineproto); a line that still
cannot be stored here (a payload from an older receiver, a time that left the window) is rejected on its own.
"""

from __future__ import annotations

from datetime import datetime

from services.worker.normalize.rows import Batch, Context, tags_json
from shared import lineproto
from shared.queue import QueueMessage
from shared.values import ValueProblem, from_epoch


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    dataset_id = message["dataset_id"]
    device = message.get("device") or ""
    precision = (message.get("params") or {}).get("precision", "ns")
    factor = lineproto.PRECISIONS.get(precision)
    if factor is None:
        batch.reject(message, f"unknown precision {precision!r}", message["payload"])
        return
    received = from_epoch(message["received_at"])
    earliest, latest = lineproto.window_ns(context.window)
    series: dict[str, tuple[str, str]] = {}  # raw series key -> (variable prefix, tags JSON)
    moments: dict[int, datetime] = {}
    add_all = batch.add_all
    for number, line in lineproto.lines(message["payload"]):
        try:
            point = lineproto.parse_line(line, factor)
            lineproto.check_point(point, earliest, latest)
        except lineproto.LineProblem as problem:
            batch.reject(message, f"line {number}: {problem}", line)
            continue
        known = series.get(point.key)
        if known is None:
            known = series[point.key] = (lineproto.variable(point.measurement, ""), tags_json(point.tags))
        prefix, tags = known
        if point.time_ns is None:
            moment = received
        else:
            cached = moments.get(point.time_ns)
            if cached is None:
                cached = moments[point.time_ns] = lineproto.to_datetime(point.time_ns)
            moment = cached
        kept = len(batch.rows)
        try:
            add_all(dataset_id, device, tags, moment, point.fields.items(), prefix=prefix)
        except ValueProblem as problem:  # a name or value PostgreSQL cannot hold: the whole line is set aside
            del batch.rows[kept:]
            batch.reject(message, f"line {number}: {problem}", line)
