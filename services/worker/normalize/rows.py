"""What normalizers produce: reading rows, device events and rejected records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import orjson

from shared.queue import QueueMessage
from shared.values import INT64_MAX, INT64_MIN, TimeWindow, ValueProblem, columns, from_epoch


class Row(NamedTuple):
    """One reading. `row[:4]` is its series' identity (SeriesKey in storage.py); `row[4:]` what is stored per
    reading, in staging_readings' column order. Slices, not names, on the hot path: they cost one C call."""

    dataset_id: int
    device: str
    variable: str
    tags: str  # the series' tags as canonical JSON (tags_json)
    time: datetime
    v_num: float | None
    v_int: int | None
    v_str: str | None
    v_bool: bool | None
    entry_id: int | None


class Reject(NamedTuple):
    """One rejected record, in rejected_records' column order."""

    dataset_id: int
    received_at: datetime
    source: str
    format: str
    device: str
    reason: str
    raw: str


class EventRow(NamedTuple):
    """One device event (AutoPi `event.*` records), in device_events' column order."""

    dataset_id: int
    device: str
    type: str
    time: datetime
    tag: str  # the event's own tag (AutoPi's `@tag`), not a variable
    fields: str  # JSON


# tuple.__new__ builds a named row at a plain tuple's cost (the generated __new__ costs three times as much);
# normalizers append one row per reading, the hot loop of the worker.
_new = tuple.__new__

NO_TAGS = "{}"
NAME_MAX = 200  # series.variable and series.device columns


@dataclass
class Context:
    """What normalizers need beyond the message: the accepted time window."""

    window: TimeWindow


@dataclass
class Batch:
    rows: list[Row] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    # (dataset_id, device id) -> latest receive time: registered devices' last-seen times, one update per batch
    seen: dict[tuple[int, str], datetime] = field(default_factory=dict)
    # (protocol, source) -> [readings, rejected records] the messages of each made, for the workers' metrics
    tally: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(
        self,
        dataset_id: int,
        device: str,
        variable: str,
        tags: str,
        moment: datetime,
        value: object,
        entry_id: int | None = None,
    ) -> None:
        """Append one reading; raises ValueProblem if the value cannot be stored."""
        self.add_all(dataset_id, device, tags, moment, ((variable, value),), entry_id)

    def add_all(
        self,
        dataset_id: int,
        device: str,
        tags: str,
        moment: datetime,
        values: Iterable[tuple[str, object]],
        entry_id: int | None = None,
        prefix: str = "",
    ) -> None:
        """Append a reading per (variable, value) of `values`, all of one device and time, each variable named
        `prefix` + its name; raises ValueProblem at the first that cannot be stored (the caller drops the rest).

        The worker's hot loop: one call per record rather than per value, and the common values (finite floats,
        64-bit integers) take their columns here instead of in `columns`."""
        if len(device) > NAME_MAX or "\x00" in device:
            raise ValueProblem(f"device name must be at most {NAME_MAX} characters without NUL")
        append = self.rows.append
        named = _prefixed(prefix) if prefix else None
        for name, value in values:
            if named is None:
                variable = name
                if not 0 < len(variable) <= NAME_MAX or "\x00" in variable:
                    raise ValueProblem(f"variable name must be 1 to {NAME_MAX} characters without NUL")
            elif (variable := named.get(name)) is None:  # type: ignore[assignment]
                variable = _name(named, prefix, name)
            if type(value) is float and value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
                append(_new(Row, (dataset_id, device, variable, tags, moment, value, None, None, None, entry_id)))
            elif type(value) is int and INT64_MIN <= value <= INT64_MAX:
                append(_new(Row, (dataset_id, device, variable, tags, moment, None, value, None, None, entry_id)))
            else:
                append(_new(Row, (dataset_id, device, variable, tags, moment, *columns(value), entry_id)))

    def event(self, dataset_id: int, device: str, kind: str, moment: datetime, tag: str, fields: dict) -> None:
        """Append one device event; its fields are kept as given (nested objects included)."""
        self.events.append(_new(EventRow, (dataset_id, device, kind, moment, tag, orjson.dumps(fields).decode())))

    def saw(self, dataset_id: int, device: str, moment: datetime) -> None:
        """Note that a device sent something at `moment`."""
        key = (dataset_id, device)
        if key not in self.seen or self.seen[key] < moment:
            self.seen[key] = moment

    def count(self, message: QueueMessage, rows: int, rejects: int) -> None:
        """Note that `message` made `rows` readings and `rejects` rejected records."""
        protocol = message.get("format", "")
        if protocol == "reject":  # a payload the receiver refused: counted under the protocol it came by
            protocol = (message.get("params") or {}).get("format", protocol)
        counts = self.tally.setdefault((str(protocol), str(message.get("source", ""))), [0, 0])
        counts[0] += rows
        counts[1] += rejects

    def reject(self, message: QueueMessage, reason: str, raw: object) -> None:
        """Keep `raw` aside with `reason`; NULs (which PostgreSQL text refuses) are kept visibly escaped."""
        text = raw if isinstance(raw, str) else raw_json(raw)
        self.rejects.append(
            Reject(
                message["dataset_id"],
                from_epoch(message["received_at"]),
                message["source"],
                storable(str(message.get("format", ""))),
                storable(str(message.get("device") or ""))[:NAME_MAX],
                storable(reason),
                storable(text),
            )
        )


# prefix -> name -> prefix + name, checked. A batch repeats a few names many times: each then costs one lookup instead
# of a new string (whose hash the series lookup computes again) and its checks.
_PREFIXED: dict[str, dict[str, str]] = {}
_PREFIXED_MAX = 100_000  # names kept in all, at most (a dataset that accepts any name may send new ones forever)
_prefixed_count = 0


def _prefixed(prefix: str) -> dict[str, str]:
    named = _PREFIXED.get(prefix)
    if named is None:
        named = _PREFIXED[prefix] = {}
    return named


def _name(named: dict[str, str], prefix: str, name: str) -> str:
    """`prefix` + `name`, checked, and kept in `named`; raises ValueProblem for a name that cannot be stored."""
    global _prefixed_count
    variable = prefix + name
    if not 0 < len(variable) <= NAME_MAX or "\x00" in variable:
        raise ValueProblem(f"variable name must be 1 to {NAME_MAX} characters without NUL")
    if _prefixed_count >= _PREFIXED_MAX:
        for kept in _PREFIXED.values():
            kept.clear()
        _prefixed_count = 0
    named[name] = variable
    _prefixed_count += 1
    return variable


def raw_json(value: object) -> str:
    """`value` as JSON for a rejected record; Python's repr when JSON cannot hold it (nesting too deep)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return repr(value)[:100_000]


def storable(text: str) -> str:
    """`text` as PostgreSQL can store it: NUL characters written as the escape `\\u0000`."""
    return text.replace("\x00", "\\u0000") if "\x00" in text else text


def tags_json(tags: dict[str, str]) -> str:
    """The canonical JSON of a tag set (sorted keys), used as part of the series identity."""
    return orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode() if tags else NO_TAGS


__all__ = ["NO_TAGS", "Batch", "Context", "EventRow", "Reject", "Row", "ValueProblem", "tags_json"]
