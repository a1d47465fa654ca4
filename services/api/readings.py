"""Reading queries for device readings and the seed document, on the driver connection (low per-row cost)."""

from __future__ import annotations

from datetime import datetime

import orjson
import psycopg
from sqlalchemy.orm import Session

from services.api.query.latest import reading_value

RANGE = """
select r.time, s.variable, s.device, s.tags, r.v_num, r.v_int, r.v_str, r.v_bool
from series s cross join lateral readings_in(array[s.id], %(start)s, %(end)s) r
where s.dataset_id = %(ds)s and r.time >= %(start)s and r.time < %(end)s {filters}
order by r.time, s.variable, s.device
limit %(limit)s
"""

LATEST_PER_VARIABLE = """
select s.variable, r.time, r.v_num, r.v_int, r.v_str, r.v_bool
from series s
cross join lateral readings_last(s.id, %(start)s, %(end)s, %(limit)s) r
where s.dataset_id = %(ds)s
order by s.variable, r.time
"""


def driver_connection(session: Session) -> psycopg.Connection:
    """The psycopg connection under the session (in the session's transaction)."""
    conn = session.connection().connection.driver_connection
    assert isinstance(conn, psycopg.Connection)  # the engine's driver is psycopg 3
    return conn


def _cursor(session: Session) -> psycopg.Cursor:
    return driver_connection(session).cursor()


def read_range(
    session: Session,
    dataset_id: int,
    start: datetime,
    end: datetime,
    variables: list[str] | None,
    limit: int,
    device: str | None = None,
    tags: dict[str, list[str]] | None = None,
) -> list[dict]:
    """Readings of a dataset in [start, end), oldest first, as JSON-ready rows."""
    filters = ""
    params: dict = {"ds": dataset_id, "start": start, "end": end, "limit": limit}
    if variables:
        filters += " and s.variable = any(%(vars)s)"
        params["vars"] = variables
    if device is not None:
        filters += " and s.device = %(device)s"
        params["device"] = device
    # every tag key given must match, with any of the values given for it
    for index, (name, values) in enumerate(sorted((tags or {}).items())):
        filters += f" and s.tags @> any(%(tag{index})s::jsonb[])"
        params[f"tag{index}"] = [orjson.dumps({name: value}).decode() for value in values]
    with _cursor(session) as cur:
        cur.execute(RANGE.format(filters=filters), params)
        rows = cur.fetchall()
    out = []
    for moment, variable, dev, tags, *columns in rows:
        row = {"time": moment, "variable": variable, "value": reading_value(*columns)}
        if dev:
            row["device"] = dev
        if tags:
            row["tags"] = tags
        out.append(row)
    return out


def latest_per_variable(
    session: Session, dataset_id: int, start: datetime, end: datetime, limit: int
) -> dict[str, list[tuple[object, datetime]]]:
    """Up to `limit` most recent values of each variable in [start, end), oldest first."""
    with _cursor(session) as cur:
        cur.execute(LATEST_PER_VARIABLE, {"ds": dataset_id, "start": start, "end": end, "limit": limit})
        rows = cur.fetchall()
    values: dict[str, list[tuple[object, datetime]]] = {}
    for variable, moment, *columns in rows:
        values.setdefault(variable, []).append((reading_value(*columns), moment))
    return values
