"""What normalizers produce: reading rows, device events and rejected records."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
        named = PREFIXED.table(prefix) if prefix else None
        for name, value in values:
            if named is None:  # check_name, inline: no call per value on the hot loop
                variable = name
                if not 0 < len(variable) <= NAME_MAX or "\x00" in variable:
                    raise ValueProblem(f"variable name must be 1 to {NAME_MAX} characters without NUL")
            elif (variable := named.get(name)) is None:  # type: ignore[assignment]
                variable = PREFIXED.make(named, prefix, name)
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


class KeptNames:
    """Variable names made of a prefix and a field name, each checked once and kept, per table (a prefix, a record
    type). A batch repeats a few names many times: each then costs one lookup instead of a new string, its check,
    and its hash, which the series lookup would compute again. At most `most` names and tables in all: past that
    everything is dropped and made again (a dataset that accepts any name may send new ones forever)."""

    def __init__(self, check: Callable[[str, str, str], None], most: int = 100_000) -> None:
        self.check = check  # (variable, prefix, name): raises ValueProblem for a name that cannot be stored
        self.most = most
        self._tables: dict[str, dict[str, str]] = {}
        self._count = 0  # names and tables made since the last drop

    def __len__(self) -> int:
        return sum(len(table) for table in self._tables.values())

    def table(self, key: str) -> dict[str, str]:
        """The names kept under `key`: name -> variable."""
        table = self._tables.get(key)
        if table is None:
            self._count_one()
            table = self._tables[key] = {}
        return table

    def make(self, table: dict[str, str], prefix: str, name: str) -> str:
        """`prefix` + `name`, checked, and kept in `table` (from `table`; if everything was dropped since, the name is
        kept there for its holder only)."""
        variable = prefix + name
        self.check(variable, prefix, name)
        self._count_one()
        table[name] = variable
        return variable

    def _count_one(self) -> None:
        if self._count >= self.most:
            self._tables.clear()
            self._count = 0
        self._count += 1


def check_name(variable: str, prefix: str = "", name: str = "") -> None:
    """ValueProblem unless `variable` fits series.variable (and PostgreSQL text)."""
    if not 0 < len(variable) <= NAME_MAX or "\x00" in variable:
        raise ValueProblem(f"variable name must be 1 to {NAME_MAX} characters without NUL")


PREFIXED = KeptNames(check_name)  # add_all's prefix + name


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
