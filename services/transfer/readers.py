"""Readers of import files, one per format: lines of text in, readings out. Pure parsing, no database.

- ndjson: `ownstream export --format ndjson` (and `GET /data?format=ndjson`): exact, types and tags kept.
- csv: `ownstream export --format csv`: time,variable,device,tags,value; values typed as pushes are.
- lineproto: InfluxDB line protocol; field f of measurement m becomes variable m.f, tags kept.
- thingspeak: a ThingSpeak channel's CSV export (created_at,entry_id,field1..field8,latitude,...,status).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

from shared import lineproto
from shared.thingspeak import FIELD_COUNT, META_NAMES, STATUS
from shared.values import ValueProblem, parse_time, scalar_from_text

FORMATS = ("ndjson", "csv", "lineproto", "thingspeak")
EXPORT_CSV_HEADER = ["time", "variable", "device", "tags", "value"]
NO_TAGS = "{}"


class Reading(NamedTuple):
    line: int
    device: str
    variable: str
    tags: str  # canonical JSON (sorted keys), "{}" for none
    time: datetime
    value: object
    entry_id: int | None = None


class ImportProblem(ValueError):
    """A line that cannot be imported, with its number."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


def canonical_tags(tags: object) -> str:
    if tags in (None, "", {}):
        return NO_TAGS
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ValueProblem("tags must be an object of strings")
    return orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode()


def detect(first_line: str, name: str = "") -> str:
    """The format of a file from its name and first line."""
    if name.endswith((".ndjson", ".jsonl")) or first_line.lstrip().startswith("{"):
        return "ndjson"
    header = first_line.strip().lower()
    if header.startswith("created_at,entry_id"):
        return "thingspeak"
    if header == ",".join(EXPORT_CSV_HEADER):
        return "csv"
    return "lineproto"


def read_ndjson(lines: Iterable[str]) -> Iterator[Reading]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
            if not isinstance(doc, dict):
                raise ValueProblem("each line must be a JSON object")
            variable, value = doc.get("variable"), doc.get("value")
            if not isinstance(variable, str):
                raise ValueProblem("variable must be a string")
            device = doc.get("device") or ""
            if not isinstance(device, str):
                raise ValueProblem("device must be a string")
            yield Reading(number, device, variable, canonical_tags(doc.get("tags")), parse_time(doc.get("time")), value)
        except (ValueProblem, orjson.JSONDecodeError) as problem:
            raise ImportProblem(number, str(problem)) from None


def read_csv(lines: Iterable[str]) -> Iterator[Reading]:
    rows = csv.reader(lines)
    header = next(rows, None)
    if header != EXPORT_CSV_HEADER:
        raise ImportProblem(1, f"the header must be {','.join(EXPORT_CSV_HEADER)}")
    for number, row in enumerate(rows, 2):
        if not row:
            continue
        try:
            if len(row) != 5:
                raise ValueProblem(f"{len(row)} columns; expected 5")
            moment, variable, device, tags, value = row
            yield Reading(
                number,
                device,
                variable,
                canonical_tags(orjson.loads(tags) if tags else None),
                parse_time(moment),
                scalar_from_text(value),
            )
        except (ValueProblem, orjson.JSONDecodeError) as problem:
            raise ImportProblem(number, str(problem)) from None


def read_lineproto(lines: Iterable[str], precision: str = "ns", device: str = "") -> Iterator[Reading]:
    factor = lineproto.PRECISIONS.get(precision)
    if factor is None:
        raise ImportProblem(0, f"unknown precision {precision!r}: use ns, us, ms or s")
    for number, line in enumerate(lines, 1):
        stripped = line.strip(" \t\r\n")
        if not stripped or stripped.startswith("#"):
            continue
        try:
            point = lineproto.parse_line(stripped, factor)
        except lineproto.LineProblem as problem:
            raise ImportProblem(number, str(problem)) from None
        if point.time_ns is None:
            raise ImportProblem(number, "a line without a timestamp cannot be imported twice safely: add one")
        moment = lineproto.to_datetime(point.time_ns)
        prefix, tags = lineproto.variable(point.measurement, ""), canonical_tags(point.tags)
        for field, value in point.fields.items():
            yield Reading(number, device, prefix + field, tags, moment, value)


def thingspeak_time(text: str) -> datetime:
    """ThingSpeak's `2026-01-01 12:00:00 UTC` (or ISO-8601 with an offset)."""
    cleaned = text.strip()
    if cleaned.endswith(" UTC"):
        cleaned = cleaned[:-4] + "Z"
    moment = parse_time(cleaned.replace(" ", "T", 1)) if "T" not in cleaned else parse_time(cleaned)
    return moment.astimezone(UTC)


def read_thingspeak(lines: Iterable[str], variables: list[str]) -> Iterator[Reading]:
    """fieldN becomes the dataset's N-th variable (or `fieldN` where it has fewer); location and status too."""
    rows = csv.reader(lines)
    header = [h.strip().lower() for h in next(rows, [])]
    if header[:2] != ["created_at", "entry_id"]:
        raise ImportProblem(1, "a ThingSpeak export starts with created_at,entry_id,field1,...")
    names: list[str | None] = []
    meta = {name: tag for tag, name in META_NAMES.items()}
    for column in header[2:]:
        if column.startswith("field") and column[5:].isdigit() and 1 <= int(column[5:]) <= FIELD_COUNT:
            n = int(column[5:])
            names.append(variables[n - 1] if n <= len(variables) else column)
        else:
            names.append(meta.get(column))  # unknown columns are skipped
    for number, row in enumerate(rows, 2):
        if not row:
            continue
        try:
            moment = thingspeak_time(row[0])
            entry_id = int(row[1]) if row[1].strip() else None
        except (ValueProblem, ValueError, IndexError) as problem:
            raise ImportProblem(number, f"created_at/entry_id: {problem}") from None
        for tag, text in zip(names, row[2:], strict=False):
            if tag is None or text == "":
                continue
            yield Reading(number, "", tag, NO_TAGS, moment, text if tag == STATUS else scalar_from_text(text), entry_id)
