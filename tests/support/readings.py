"""Storing readings in tests through the worker's write path (services.worker.storage.Writer)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.worker.normalize.rows import Batch, Row, tags_json
from services.worker.storage import Writer
from shared.config import Settings
from shared.values import columns

Reading = tuple[str, str, dict, datetime, object]  # device, variable, tags, time, value


def store(
    settings: Settings, dataset_id: int, readings: Iterable[Reading], batch: int = 20_000, entries: bool = False
) -> int:
    """Write `readings` in batches as a worker would; returns how many were stored.

    `entries`: as ThingSpeak entries, numbered by time (readings of one time share an entry id).
    """
    writer = Writer(settings)
    listed = list(readings)
    numbers = {moment: n for n, moment in enumerate(sorted({r[3] for r in listed}), start=1)} if entries else {}
    rows = [
        Row(dataset_id, device, variable, tags_json(tags), moment, *columns(value), numbers.get(moment))
        for device, variable, tags, moment, value in listed
    ]
    try:
        return sum(writer.write(Batch(rows=rows[i : i + batch])).stored for i in range(0, len(rows), batch))
    finally:
        writer.close()
