"""InfluxDB line protocol parsing (pure): ingest validates a whole body with it, workers re-parse with it.

`measurement[,tag=value...] field=value[,field=value...] [timestamp]`, one point per line; blank lines and
`#` comments are skipped. Escapes follow InfluxDB: `\\,` and `\\ ` in measurements, `\\,` `\\=` `\\ ` in tag
keys, tag values and field keys, `\\"` and `\\\\` in string field values; a backslash before anything else is
kept as it is. Field values: float (`1.5`, `1e3`), integer (`3i`), unsigned (`3u`), boolean (`t`, `true`,
`F`, ...) and string (`"text"`, which may span lines as in InfluxDB 1.x).

Hot path: lines without backslashes or quotes (nearly all real traffic) are taken apart with `str.split`;
only the others go through the regular expressions. Parsed measurement/tag sections are memoized, since a
batch repeats a few series many times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from shared.values import TimeWindow

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1

# nanoseconds per unit; v2 names (ns, us, ms, s), v1 names (n, u, ms, s, m, h) and both spellings of micro
PRECISIONS: dict[str, int] = {
    "ns": 1,
    "n": 1,
    "us": 1_000,
    "u": 1_000,
    "µ": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}

Value = float | int | bool | str
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})
_FLOAT_FIRST = frozenset("-.0123456789")
_FLOAT_LAST = frozenset(".0123456789")

# The slow path, for lines with escapes or quoted strings; loops unrolled (`[^x]*(?:\\.[^x]*)*`) for speed.
_KEY_SECTION = re.compile(r"[^ \\]*+(?:\\.?[^ \\]*+)*+", re.S)  # measurement and tags: to the first unescaped space
# a quote opens a string only right after "=": InfluxDB reads quotes elsewhere (field keys) as characters
_FIELD_SECTION = re.compile(r'(?:[^ "\\=]++|\\.?|="[^"\\]*+(?:\\.[^"\\]*+)*+"|=|")*+', re.S)
_ITEMS = {sep: re.compile(rf"[^{sep}\\]*+(?:\\.?[^{sep}\\]*+)*+", re.S) for sep in ",="}
_FIELD = re.compile(
    r'([^,= \\]*+(?:\\.?[^,= \\]*+)*+)=("[^"\\]*+(?:\\.[^"\\]*+)*+"|[^,= "\\]*+(?:\\.?[^,= "\\]*+)*+)', re.S
)
_UNESCAPE_KEY = re.compile(r"\\([ ,=])")
_UNESCAPE_MEASUREMENT = re.compile(r"\\([ ,])")
_UNESCAPE_STRING = re.compile(r'\\(["\\])')
# A physical line: the key section, then the rest, where a quoted string may hold newlines (as in InfluxDB 1.x).
_LINE = re.compile(r'(?:[^\n \\]++|\\[^\n]|\\)*+(?:[^\n"\\=]++|\\[^\n]|\\|="[^"\\]*+(?:\\.[^"\\]*+)*+"|=|")*+', re.S)

VARIABLE_MAX = 200  # characters of `measurement.field`, the stored variable name
_KEY_CACHE_MAX = 50_000
_keys: dict[str, tuple[str, dict[str, str]]] = {}


class Point(NamedTuple):
    """One parsed line. `tags` may be shared between points of the same series: treat it as read-only."""

    key: str  # the raw measurement-and-tags text: a cheap cache key for the series
    measurement: str
    tags: dict[str, str]
    fields: dict[str, Value]
    time_ns: int | None  # nanoseconds since the epoch, None when the line has no timestamp


class LineProblem(ValueError):
    """Why one line cannot be parsed."""


class LineError(ValueError):
    """The first bad line of a body: its number (from 1), the reason and the line itself."""

    def __init__(self, number: int, reason: str, line: str) -> None:
        shown = line if len(line) <= 120 else line[:117] + "..."
        super().__init__(f"line {number}: {reason}: {shown!r}")
        self.number = number
        self.reason = reason
        self.line = line


def precision_factor(precision: str) -> int:
    """Nanoseconds per unit of `precision`; LineProblem for an unknown one."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise LineProblem(f"unknown precision {precision!r}") from None


def lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of each point line of `text`: blank lines and `#` comments are skipped."""
    if '"' in text:
        yield from _scan_lines(text)
        return
    for index, line in enumerate(text.split("\n"), 1):
        stripped = line.strip(" \t\r")
        if stripped and stripped[0] != "#":
            yield index, stripped


def _scan_lines(text: str) -> Iterator[tuple[int, str]]:
    """Like `lines`, for bodies with quotes: a quoted field value may span lines."""
    number, position, end = 1, 0, len(text)
    while position <= end:
        line = _LINE.match(text, position).group()  # type: ignore[union-attr]  # matches "" at least
        stripped = line.strip(" \t\r")
        if stripped and stripped[0] != "#":
            yield number, stripped
        number += line.count("\n") + 1
        position += len(line) + 1


def parse(text: str, precision: str = "ns") -> list[Point]:
    """Every point of `text`; LineError at the first line that cannot be parsed."""
    factor = precision_factor(precision)
    points: list[Point] = []
    append = points.append
    for number, line in lines(text):
        try:
            append(parse_line(line, factor))
        except LineProblem as problem:
            raise LineError(number, str(problem), line) from None
    return points


def parse_line(line: str, factor: int = 1) -> Point:
    """One stripped, non-empty line; timestamps are multiplied by `factor` into nanoseconds."""
    if "\0" in line:
        raise LineProblem("NUL characters are not allowed")  # PostgreSQL text and jsonb cannot hold them
    if "\\" in line or '"' in line:
        key, fields_text, stamp = _split_escaped(line)
        fields = _fields_escaped(fields_text)
    else:
        parts = line.split(" ")
        if len(parts) not in (2, 3) or "" in parts:
            parts = [part for part in parts if part]
        if len(parts) == 3:
            key, fields_text, stamp = parts
        elif len(parts) == 2:
            (key, fields_text), stamp = parts, None
        elif len(parts) == 1:
            raise LineProblem("missing fields")
        else:
            raise LineProblem("point is invalid: more than three space-separated sections")
        fields = _fields_plain(fields_text)
    cached = _keys.get(key)
    if cached is None:
        cached = _key_section(key)
        if len(_keys) >= _KEY_CACHE_MAX:
            _keys.clear()
        _keys[key] = cached
    return Point(key, cached[0], cached[1], fields, None if stamp is None else _timestamp(stamp, factor))


def variable(measurement: str, field: str) -> str:
    """The Ownstream variable a field is stored as."""
    return f"{measurement}.{field}"


KEY_MAX = 1024  # measurement and tags of one line: they identify a series, and its index entry has a size limit


def check_point(point: Point, earliest_ns: int, latest_ns: int) -> None:
    """LineProblem if `point` cannot be stored: a variable name too long or a time outside the window."""
    if point.time_ns is not None and not earliest_ns <= point.time_ns <= latest_ns:
        when = "before" if point.time_ns < earliest_ns else "after"
        raise LineProblem(
            f"time {_iso(point.time_ns)} is {when} the accepted range "
            f"({_iso(earliest_ns)} to {_iso(latest_ns)}): is the precision right?"
        )
    if len(point.key) > KEY_MAX:
        raise LineProblem(f"measurement and tags are longer than {KEY_MAX} characters")
    limit = VARIABLE_MAX - 1 - len(point.measurement)
    for field in point.fields:
        if len(field) > limit:
            raise LineProblem(
                f"variable {_shown(variable(point.measurement, field))} is longer than {VARIABLE_MAX} characters"
            )


def window_ns(window: TimeWindow) -> tuple[int, int]:
    """The accepted time window as (earliest, latest) nanoseconds since the epoch."""
    return (window.earliest - _EPOCH) // _MICROSECOND * 1000, (window.latest - _EPOCH) // _MICROSECOND * 1000


def to_datetime(ns: int) -> datetime:
    """An aware UTC datetime of `ns` nanoseconds since the epoch (PostgreSQL keeps microseconds)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _iso(ns: int) -> str:
    return to_datetime(ns).isoformat().replace("+00:00", "Z")


def _timestamp(text: str, factor: int) -> int:
    digits = text[1:] if text[0] == "-" else text
    if not (digits.isascii() and digits.isdigit()):
        raise LineProblem(f"bad timestamp {_shown(text)}: an integer is expected")
    value = int(text) * factor
    if not INT64_MIN < value < INT64_MAX:
        raise LineProblem(f"timestamp {_shown(text)} is out of range")
    return value


def _key_section(key: str) -> tuple[str, dict[str, str]]:
    """The measurement and tags of `measurement,tag=value,...` (escapes resolved)."""
    escaped = "\\" in key
    measurement, *pairs = _split(key, ",") if escaped else key.split(",")
    if escaped:
        measurement = _UNESCAPE_MEASUREMENT.sub(r"\1", measurement)
    if not measurement:
        raise LineProblem("missing measurement")
    tags: dict[str, str] = {}
    for pair in pairs:
        parts = _split(pair, "=") if escaped else pair.split("=")
        if not parts[0]:
            raise LineProblem("missing tag key")
        if len(parts) == 1 or not parts[1]:
            raise LineProblem(f"missing tag value for tag {_shown(parts[0])}")
        if len(parts) > 2:
            raise LineProblem(f"invalid tag format: unescaped '=' in the value of tag {_shown(parts[0])}")
        name, value = parts
        if escaped:
            name, value = _UNESCAPE_KEY.sub(r"\1", name), _UNESCAPE_KEY.sub(r"\1", value)
        if name in tags:
            raise LineProblem(f"duplicate tags: {_shown(name)}")
        tags[name] = value
    return measurement, tags


def _split(text: str, separator: str) -> list[str]:
    """`text` split at each `separator` that no backslash escapes."""
    pattern, items, position, end = _ITEMS[separator], [], 0, len(text)
    while True:
        item = pattern.match(text, position).group()  # type: ignore[union-attr]  # matches "" at least
        items.append(item)
        position += len(item) + 1  # past the separator
        if position > end:
            return items


def _split_escaped(line: str) -> tuple[str, str, str | None]:
    """The key section, the field section and the timestamp text of a line with escapes or quotes."""
    key = _KEY_SECTION.match(line).group()  # type: ignore[union-attr]  # matches "" at least
    rest = line[len(key) :].lstrip(" ")
    if not rest:
        raise LineProblem("missing fields")
    fields = _FIELD_SECTION.match(rest).group()  # type: ignore[union-attr]
    tail = rest[len(fields) :].strip(" ")
    if not tail:
        return key, fields, None
    if " " in tail:
        raise LineProblem("point is invalid: more than three space-separated sections")
    return key, fields, tail


def _fields_plain(text: str) -> dict[str, Value]:
    """Fields of a section without escapes or quotes."""
    fields: dict[str, Value] = {}
    for pair in text.split(","):
        name, sep, raw = pair.partition("=")
        if not name or not raw or "=" in raw:
            _bad_pair(name, sep, raw)
        fields[name] = _scalar(raw, name)
    return fields


def _bad_pair(name: str, sep: str, raw: str) -> None:
    if not sep:
        raise LineProblem("invalid field format")
    if not name:
        raise LineProblem("missing field key")
    if not raw:
        raise LineProblem(f"missing field value for field {_shown(name)}")
    raise LineProblem(f"invalid field format: unescaped '=' in the value of field {_shown(name)}")


def _fields_escaped(text: str) -> dict[str, Value]:
    """Fields of a section that has escapes or quoted strings."""
    fields: dict[str, Value] = {}
    position, end = 0, len(text)
    while True:
        match = _FIELD.match(text, position)
        if match is None:
            raise LineProblem("missing field key" if text.startswith("=", position) else "invalid field format")
        name, raw = match.group(1), match.group(2)
        if not name:
            raise LineProblem("missing field key")
        if not raw:
            raise LineProblem("unbalanced quotes" if text.startswith('"', match.end()) else "missing field value")
        name = _UNESCAPE_KEY.sub(r"\1", name) if "\\" in name else name
        if raw[0] == '"':
            fields[name] = _UNESCAPE_STRING.sub(r"\1", raw[1:-1]) if "\\" in raw else raw[1:-1]
        else:
            fields[name] = _scalar(raw, name)
        position = match.end()
        if position == end:
            return fields
        if text[position] != "," or position + 1 == end:
            raise LineProblem("invalid field format")
        position += 1


def _scalar(raw: str, name: str) -> Value:
    """A field value that is not a quoted string."""
    last = raw[-1]
    if last in _FLOAT_LAST:
        # float() alone would also take "+1", "1_0", " 1" and non-ASCII digits, which InfluxDB refuses
        if raw[0] in _FLOAT_FIRST and "_" not in raw and raw.isascii():
            try:
                value = float(raw)
            except ValueError:
                pass
            else:
                if math.isfinite(value):
                    return value
        raise LineProblem(f"invalid number {_shown(raw)} for field {_shown(name)}")
    if last == "i":
        digits = raw[1:-1] if raw[0] == "-" else raw[:-1]
        if digits.isascii() and digits.isdigit():
            value = int(raw[:-1]) if len(digits) <= 20 else INT64_MAX + 1  # int() of huge texts is slow and capped
            if INT64_MIN <= value <= INT64_MAX:
                return value
            raise LineProblem(f"integer {_shown(raw[:-1])} for field {_shown(name)} is out of the 64-bit range")
        raise LineProblem(f"invalid integer {_shown(raw)} for field {_shown(name)}")
    if last == "u":
        digits = raw[:-1]
        if digits.isascii() and digits.isdigit():
            value = int(digits) if len(digits) <= 20 else UINT64_MAX + 1
            if value <= UINT64_MAX:
                return value
            raise LineProblem(f"unsigned integer {_shown(digits)} for field {_shown(name)} is out of range")
        raise LineProblem(f"invalid unsigned integer {_shown(raw)} for field {_shown(name)}")
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    if raw[0] == '"' or last == '"':
        raise LineProblem(f"unbalanced quotes in field {_shown(name)}")
    raise LineProblem(
        f"invalid field value {_shown(raw)} for field {_shown(name)}: not a number, integer, boolean or quoted string"
    )


def _shown(text: str) -> str:
    """`text` quoted for a message, shortened if long."""
    return repr(text if len(text) <= 40 else text[:37] + "...")
