"""The latest value and time of every selected series: one readings_last() lookup per series."""

from __future__ import annotations

import psycopg

from services.api.query.series import SeriesInfo, column_identity

LATEST = """
select k.id, r.time, r.v_num, r.v_int, r.v_str, r.v_bool
from unnest(%(ids)s::bigint[]) with ordinality as k(id, ord)
cross join lateral readings_last(k.id, '-infinity', 'infinity', 1) r
order by k.ord
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


def latest_values(conn: psycopg.Connection, series: list[SeriesInfo]) -> list[dict]:
    """{"variable", "device", "tags", "time", "value"} of each series with a reading, in series order."""
    if not series:
        return []
    by_id = {s.id: s for s in series}
    with conn.cursor() as cur:
        rows = cur.execute(LATEST, {"ids": list(by_id)}).fetchall()
    return [
        {**column_identity(by_id[sid]), "time": moment, "value": reading_value(*values)}
        for sid, moment, *values in rows
    ]
