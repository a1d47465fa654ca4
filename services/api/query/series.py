"""The series a query reads: a dataset's series matching variables, device and tags, in a stable order."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import psycopg


@dataclass(frozen=True)
class SeriesInfo:
    """One series: id, identity, and its rank in (variable, device, tags) order, which breaks time ties."""

    id: int
    variable: str
    device: str
    tags: dict
    rank: int


# The series' rank: ties of time break in this order, and series are listed in it.
SERIES_ORDER = "s.variable, s.device, s.tags::text, s.id"


def filter_sql(
    variables: list[str] | None, device: str | None, tags: dict[str, list[str]] | None, alias: str = "s"
) -> tuple[str, dict]:
    """SQL conditions (each starting with `and`) on the series table, and their parameters."""
    sql, params = "", dict[str, object]()
    if variables:
        sql += f" and {alias}.variable = any(%(vars)s)"
        params["vars"] = variables
    if device is not None:
        sql += f" and {alias}.device = %(device)s"
        params["device"] = device
    # every tag key given must match, with any of the values given for it
    for index, (name, values) in enumerate(sorted((tags or {}).items())):
        sql += f" and {alias}.tags @> any(%(tag{index})s::jsonb[])"
        params[f"tag{index}"] = [orjson.dumps({name: value}).decode() for value in values]
    return sql, params


def matching_series(
    conn: psycopg.Connection,
    dataset_id: int,
    variables: list[str] | None = None,
    device: str | None = None,
    tags: dict[str, list[str]] | None = None,
) -> list[SeriesInfo]:
    """The dataset's series matching the filters, ranked by variable, device and tags."""
    filters, params = filter_sql(variables, device, tags)
    with conn.cursor() as cur:
        cur.execute(
            f"select s.id, s.variable, s.device, s.tags from series s where s.dataset_id = %(ds)s {filters}"
            f" order by {SERIES_ORDER}",
            {"ds": dataset_id, **params},
        )
        rows = cur.fetchall()
    return [SeriesInfo(sid, variable, device, tags, rank) for rank, (sid, variable, device, tags) in enumerate(rows)]


def identity(series: SeriesInfo) -> dict:
    """{"variable", "device", "tags"} of a series, device and tags left out when empty (as rows show them)."""
    found: dict = {"variable": series.variable}
    if series.device:
        found["device"] = series.device
    if series.tags:
        found["tags"] = series.tags
    return found


def column_identity(series: SeriesInfo) -> dict:
    """{"variable", "device" (null when none), "tags"} of a series, as the columns format shows it."""
    return {"variable": series.variable, "device": series.device or None, "tags": series.tags}
