"""Times and durations as the query API accepts them: ISO-8601, epoch s/ms, relative (`-24h`, `now`), `15m`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.values import ValueProblem, parse_time

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"^(\d{1,9})(ms|s|m|h|d|w)$")
_RELATIVE = re.compile(r"^(?:now)?\s*([+-])\s*(\d{1,9})(ms|s|m|h|d|w)$")
_EPOCH = re.compile(r"^[+-]?\d{1,16}(\.\d+)?$")
MS_FROM = 100_000_000_000  # epoch numbers this large are milliseconds (seconds would be past year 5000)


def parse_duration(text: str) -> timedelta:
    """`<n><unit>` with unit ms, s, m, h, d or w, e.g. `15m`; n at least 1."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueProblem(f"{text!r} is not a duration like 10s, 15m, 1h, 1d, 1w")
    return int(match.group(1)) * UNITS[match.group(2)]


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time, epoch seconds or milliseconds, `now`, or relative to now (`-24h`, `-7d`, `now-1h`)."""
    candidate = text.strip()
    current = now or datetime.now(UTC)
    if candidate.lower() == "now":
        return current
    relative = _RELATIVE.match(candidate.lower())
    if relative:
        sign, count, unit = relative.groups()
        delta = int(count) * UNITS[unit]
        return _bounded(lambda: current - delta if sign == "-" else current + delta, text)
    if _EPOCH.match(candidate):
        number = float(candidate) if "." in candidate else int(candidate)
        seconds = number / 1000 if abs(number) >= MS_FROM else number
        return _bounded(lambda: EPOCH + timedelta(seconds=seconds), text)
    try:
        return parse_time(candidate)
    except ValueProblem:
        raise ValueProblem(
            f"{text!r} is not a time: use ISO-8601, epoch seconds or milliseconds, now, or a relative time like -24h"
        ) from None


def _bounded(compute: Callable[[], datetime], text: str) -> datetime:
    try:
        moment = compute()
    except OverflowError:
        raise ValueProblem(f"{text!r} is out of range") from None
    if not EARLIEST <= moment <= LATEST:
        raise ValueProblem(f"{text!r} is out of range")
    return moment


def align(moment: datetime, bucket: timedelta) -> datetime:
    """The start of the epoch-aligned bucket holding `moment`."""
    return moment - (moment - EPOCH) % bucket


def duration_name(bucket: timedelta) -> str:
    """The shortest `<n><unit>` spelling of a bucket width."""
    for unit in ("w", "d", "h", "m", "s", "ms"):
        if bucket % UNITS[unit] == timedelta(0):
            return f"{bucket // UNITS[unit]}{unit}"
    return f"{bucket // timedelta(microseconds=1)}us"
