"""Pure parsing of reading values and times, used by receivers (to refuse bad input) and workers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
VARIABLE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-:/@]{0,199}$")
_INT_RE = re.compile(r"^[+-]?\d{1,20}$")
MAX_DEPTH = 32  # nesting of JSON objects and lists in one reading

Scalar = float | int | str | bool
Columns = tuple[float | None, int | None, str | None, bool | None]


class ValueProblem(ValueError):
    """A value or time that cannot be stored; the message names the problem."""


def columns(value: object) -> Columns:
    """The (v_num, v_int, v_str, v_bool) storage columns of one JSON value."""
    if isinstance(value, bool):
        return None, None, None, value
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return None, value, None, None
        return float(value), None, None, None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueProblem("numbers must be finite")
        return value, None, None, None
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueProblem("text values cannot contain NUL characters")
        return None, None, value, None
    if value is None:
        raise ValueProblem("null is not a value")
    raise ValueProblem(f"unsupported value of type {type(value).__name__}")


def scalar_from_text(text: str) -> Scalar:
    """A pushed text value with its natural type: integer, number, boolean, or the text itself."""
    stripped = text.strip()
    if _INT_RE.match(stripped):
        number = int(stripped)
        if INT64_MIN <= number <= INT64_MAX:
            return number
    try:
        value = float(stripped)
    except ValueError:
        lowered = stripped.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text
    return value if math.isfinite(value) else text


NESTED = frozenset((dict, list))  # value types `flatten` walks into


def leaves(obj: dict) -> Iterable[tuple[str, object]]:
    """`flatten(obj)`, with a flat object (the common case: no object or list inside) taken as it is, which saves
    a generator step per value."""
    return obj.items() if NESTED.isdisjoint(map(type, obj.values())) else flatten(obj)


def flatten(obj: dict, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, object]]:
    """(dotted path, leaf) pairs of a nested JSON object; list items are indexed (`a.0`)."""
    if depth > MAX_DEPTH:
        raise ValueProblem(f"values nested deeper than {MAX_DEPTH} levels")
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, path + ".", depth + 1)
        elif isinstance(value, list):
            yield from flatten({str(i): item for i, item in enumerate(value)}, path + ".", depth + 1)
        else:
            yield path, value


def parse_time(text: object) -> datetime:
    """An ISO-8601 time (a trailing Z or an offset; naive means UTC) as an aware datetime."""
    if not isinstance(text, str) or not text:
        raise ValueProblem("time must be an ISO-8601 string")
    try:  # the common case, as devices write it: one C call (Python 3.11 reads `Z` and a space separator)
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    candidate = candidate.replace(" ", "T", 1) if "T" not in candidate else candidate
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueProblem(f"time {text!r} is not ISO-8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class TimeWindow:
    """The span of times Ownstream stores: from a configured year to a little ahead of now."""

    def __init__(self, min_year: int, max_future_s: int, now: datetime | None = None) -> None:
        self.earliest = datetime(min_year, 1, 1, tzinfo=UTC)
        self.latest = (now or datetime.now(UTC)) + timedelta(seconds=max_future_s)

    def check(self, moment: datetime) -> datetime:
        if moment < self.earliest:
            raise ValueProblem(f"time {moment.isoformat()} is before {self.earliest.year}")
        if moment > self.latest:
            raise ValueProblem(f"time {moment.isoformat()} is too far in the future")
        return moment


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
