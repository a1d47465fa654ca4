"""The range query's parameters, documented for /docs and validated into one `ReadQuery` (400 naming the bad one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query

from services.api.query.cursor import Cursor, decode_cursor
from services.api.query.times import EARLIEST, LATEST, parse_duration, parse_moment
from shared.errors import BadRequest
from shared.values import ValueProblem

AGGS = ("avg", "min", "max", "sum", "count", "first", "last")
FORMATS = ("json", "columns", "csv", "ndjson")
MAX_LIMIT = 1_000_000
DEFAULT_LIMIT = 10_000
MAX_POINTS = 100_000


@dataclass(frozen=True)
class ReadQuery:
    """A validated range query."""

    start: datetime
    end: datetime
    start_given: bool
    end_given: bool
    variables: list[str] | None
    device: str | None
    tags: dict[str, list[str]] | None
    order: str
    limit: int
    limit_given: bool
    cursor: Cursor | None
    bucket: timedelta | None
    auto_points: int | None  # bucket=auto: this many buckets over the range
    aggs: tuple[str, ...]
    fill: str
    format: str


def time_param(value: str | None, name: str, default: datetime) -> datetime:
    """A time parameter (ISO-8601, epoch s/ms, relative), or `default` when absent."""
    if value is None or value == "":
        return default
    try:
        return parse_moment(value)
    except ValueProblem as problem:
        raise BadRequest(f"{name}: {problem}") from None


def tags_param(values: list[str] | None) -> dict[str, list[str]] | None:
    """`tag=key:value` filters (repeatable; values given for one key are alternatives)."""
    if not values:
        return None
    tags: dict[str, list[str]] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not name or not sep:
            raise BadRequest(f"tag: filter {item!r} must be key:value, e.g. tag=host:server01")
        tags.setdefault(name, []).append(value)
    return tags


def vars_param(value: str | None) -> list[str] | None:
    """`vars=a,b` as a list; None for all variables."""
    if not value:
        return None
    return [v for v in (part.strip() for part in value.split(",")) if v] or None


def _choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadRequest(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def aggs_param(value: str | None) -> tuple[str, ...]:
    """`agg=min,max,avg`: aggregates in the order given, without repeats; avg by default."""
    if not value:
        return ("avg",)
    names = [part.strip() for part in value.split(",") if part.strip()]
    for name in names:
        _choice(name, "agg", AGGS)
    return tuple(dict.fromkeys(names)) or ("avg",)


def bucket_param(value: str | None) -> tuple[timedelta | None, bool]:
    """(bucket width, whether `auto`) of the `bucket` parameter."""
    if not value:
        return None, False
    if value.strip() == "auto":
        return None, True
    try:
        return parse_duration(value), False
    except ValueProblem as problem:
        raise BadRequest(f"bucket: {problem}, or auto") from None


def read_query(
    start: Annotated[
        str | None,
        Query(
            description="Start of the range, included: ISO-8601 (`2026-03-01T12:00Z`), "
            "epoch seconds or milliseconds, `now`, or relative to now (`-24h`, `-7d`). "
            "Default: the beginning of time."
        ),
    ] = None,
    end: Annotated[
        str | None, Query(description="End of the range, excluded; same forms as `start`. Default: the end of time.")
    ] = None,
    vars: Annotated[
        str | None, Query(description="Comma-separated variables, e.g. `temperature,humidity`. Default: all.")
    ] = None,
    device: Annotated[str | None, Query(description="Only the series of this device.")] = None,
    tag: Annotated[
        list[str] | None,
        Query(description="`key:value`; repeatable: every key must match, values given for one key are alternatives."),
    ] = None,
    order: Annotated[str, Query(description="`asc` (oldest first) or `desc` (newest first).")] = "asc",
    limit: Annotated[
        int | None,
        Query(
            description=f"Rows (or buckets) per page, 1 to {MAX_LIMIT}. Default "
            f"{DEFAULT_LIMIT} for json and columns; csv and ndjson stream every row "
            "unless given."
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            description="Opaque `next_cursor` of the previous page: the next page "
            "starts right after its last row (each row exactly once)."
        ),
    ] = None,
    bucket: Annotated[
        str | None,
        Query(
            description="Aggregate numeric values into epoch-aligned buckets: "
            "`<n><unit>` with unit ms, s, m, h, d, w (`10s`, `15m`, `1h`, `1d`), "
            "or `auto` for about `points` buckets over the range."
        ),
    ] = None,
    points: Annotated[
        int | None, Query(description=f"With `bucket=auto`: how many buckets (1 to {MAX_POINTS}, default 1000).")
    ] = None,
    agg: Annotated[
        str | None,
        Query(
            description="With `bucket`: comma-separated aggregates among avg, min, max, "
            "sum, count, first, last. Default avg."
        ),
    ] = None,
    fill: Annotated[
        str, Query(description="With `bucket`: `none` leaves empty buckets out, `null` lists them with null values.")
    ] = "none",
    format: Annotated[
        str,
        Query(description="`json` (rows), `columns` (one array per field and series), `csv` or `ndjson` (streamed)."),
    ] = "json",
) -> ReadQuery:
    """Every range-query parameter, checked."""
    begin, finish = time_param(start, "start", EARLIEST), time_param(end, "end", LATEST)
    if finish <= begin:
        raise BadRequest("end: must be after start")
    _choice(order, "order", ("asc", "desc"))
    _choice(fill, "fill", ("none", "null"))
    _choice(format, "format", FORMATS)
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: must be between 1 and {MAX_LIMIT}")
    width, auto = bucket_param(bucket)
    if points is not None and not auto:
        raise BadRequest("points: only with bucket=auto")
    if points is not None and not 1 <= points <= MAX_POINTS:
        raise BadRequest(f"points: must be between 1 and {MAX_POINTS}")
    if agg and not bucket:
        raise BadRequest("agg: only with bucket")
    if fill != "none" and not bucket:
        raise BadRequest("fill: only with bucket")
    if bucket and format in ("csv", "ndjson"):
        raise BadRequest("format: csv and ndjson export raw readings; use json or columns with bucket")
    return ReadQuery(
        start=begin,
        end=finish,
        start_given=bool(start),
        end_given=bool(end),
        variables=vars_param(vars),
        device=device,
        tags=tags_param(tag),
        order=order,
        limit=limit or DEFAULT_LIMIT,
        limit_given=limit is not None,
        cursor=decode_cursor(cursor, order) if cursor else None,
        bucket=width,
        auto_points=(points or 1000) if auto else None,
        aggs=aggs_param(agg),
        fill=fill,
        format=format,
    )


ReadQueryDep = Annotated[ReadQuery, Depends(read_query)]
