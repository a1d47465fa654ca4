"""The latest value and time of every matching series: the series and one readings_last() lookup each, one query."""

from __future__ import annotations

import psycopg

from services.api.query.series import SERIES_ORDER, filter_sql

LATEST = f"""
select s.variable, s.device, s.tags, r.time, r.v_num, r.v_int, r.v_str, r.v_bool
from series s
cross join lateral readings_last(s.id, '-infinity', 'infinity', 1) r
where s.dataset_id = %(ds)s {{filters}}
order by {SERIES_ORDER}
"""


def reading_value(
    v_num: float | None, v_int: int | None, v_str: str | None, v_bool: bool | None
) -> float | int | str | bool | None:
    """The one set value column of a reading; integers stay exact ints."""
    if v_int is not None:
        return v_int
    if v_num is not None:
        return v_num
    return v_str if v_str is not None else v_bool


def latest_values(
    conn: psycopg.Connection,
    dataset_id: int,
    variables: list[str] | None = None,
    device: str | None = None,
    tags: dict[str, list[str]] | None = None,
) -> list[dict]:
    """{"variable", "device", "tags", "time", "value"} of each matching series with a reading, in series order
    (as `matching_series` ranks them; the columns format's identity: device null when none)."""
    filters, params = filter_sql(variables, device, tags)
    with conn.cursor() as cur:
        rows = cur.execute(LATEST.format(filters=filters), {"ds": dataset_id, **params}).fetchall()
    return [
        {"variable": variable, "device": device or None, "tags": tags, "time": moment, "value": reading_value(*values)}
        for variable, device, tags, moment, *values in rows
    ]
