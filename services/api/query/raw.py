"""Raw readings of chosen series in [start, end), in (time, series rank) order, from a keyset position."""

from __future__ import annotations

from datetime import datetime

from services.api.query.cursor import Cursor
from services.api.query.formats import identity_members, tags_text
from services.api.query.series import SeriesInfo
from shared.errors import BadRequest


def raw_select(
    series: list[SeriesInfo],
    start: datetime,
    end: datetime,
    order: str = "asc",
    after: Cursor | None = None,
    readings: str = "readings_in",
) -> tuple[str, str, dict]:
    """(FROM+WHERE clause, ORDER BY list, parameters) over readings_in() `r` (hot and packed readings) joined
    to per-series columns `k`; `readings` names one of its parts instead (readings_hot, readings_packed_in).

    `k` has rank, frag (identity as JSON members), variable, device and tags_text. With one series the
    readings' primary key (series_id, time) gives the order directly, so no sort is needed.
    """
    sign, direction = (">", "asc") if order == "asc" else ("<", "desc")
    params: dict = {"start": start, "end": end}
    if len(series) == 1:
        only = series[0]
        params.update(sid=only.id, frag=identity_members(only), var=only.variable, dev=only.device, tt=tags_text(only))
        source = (
            f"{readings}(array[%(sid)s]::bigint[], %(start)s, %(end)s) r cross join (select 0 as rank, "
            "%(frag)s::text as frag, %(var)s::text as variable, %(dev)s::text as device, "
            "%(tt)s::text as tags_text) k where r.series_id = %(sid)s"
        )
        order_by = f"r.time {direction}"
    else:
        params.update(
            ids=[s.id for s in series],
            ranks=[s.rank for s in series],
            frags=[identity_members(s) for s in series],
            vars=[s.variable for s in series],
            devs=[s.device for s in series],
            tts=[tags_text(s) for s in series],
        )
        source = (
            f"{readings}(%(ids)s::bigint[], %(start)s, %(end)s) r join unnest(%(ids)s::bigint[], "
            "%(ranks)s::int[], %(frags)s::text[], %(vars)s::text[], %(devs)s::text[], %(tts)s::text[]) "
            "as k(id, rank, frag, variable, device, tags_text) on k.id = r.series_id where true"
        )
        order_by = f"r.time {direction}, k.rank {direction}"
    source += " and r.time >= %(start)s and r.time < %(end)s"
    if after is not None:
        rank = next((s.rank for s in series if s.id == after.series_id), None)
        if rank is None:
            raise BadRequest("cursor: it belongs to another query (its series is not among those selected)")
        params.update(after_time=after.time, after_rank=rank)
        source += f" and (r.time, k.rank) {sign} (%(after_time)s, %(after_rank)s)"
        if len(series) == 1:  # the same condition, in a form the primary key index serves
            source += f" and r.time {sign}= %(after_time)s"
    return source, order_by, params


def page_sql(source: str, order_by: str, columns: str) -> str:
    """A page of `limit + 1` rows numbered `n` in order (the extra row tells whether there are more), as `page`.

    A subquery, not a CTE: aggregates over it read its rows once, in its order.
    """
    return f"""(select row_number() over (order by {order_by}) as n, r.time, r.series_id as sid, {columns}
        from {source} order by {order_by} limit %(limit)s + 1) page"""


# the last row's key, and the time of the first row left out
TAIL_PARTS = (
    "max(time) filter (where n = %(limit)s)",
    "max(sid) filter (where n = %(limit)s)",
    "max(time) filter (where n = %(limit)s + 1)",
)
TAIL = ", ".join(TAIL_PARTS)
