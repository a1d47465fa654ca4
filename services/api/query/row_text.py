"""JSON rows of a raw page, rendered from column arrays with numpy instead of one SQL expression per row.

PostgreSQL spends most of a large page's time turning each row's timestamp into ISO text and concatenating the
row's JSON (about 1 µs per row), and sorting the union of hot and packed readings. Here each part of the readings
(readings_hot, readings_packed_in) is read in page order by itself (the hot part straight from its primary key,
no sort) and sent as aggregates: times and series ids as binary arrays (no per-row text), and each value as its
JSON literal (the one part whose rules, such as exact integers and escaped strings, belong with the data) in a
fixed slot. numpy merges the two parts, lays each row out in a fixed-width record, NUL-padded, and one
`bytes.replace` drops the padding:

    {"time":"<date>T<hh:mm:ss><.ffffff>Z"<series members>,"value":<value>},

A NUL never occurs in the text itself (PostgreSQL text cannot hold one, and JSON escapes control characters), so
the padding is all that `replace` removes. The output is byte for byte what `formats.ROW_JSON` renders: the
tests compare the two over every value kind, fractional times, several series, hot and packed readings, both
orders and paging.

When a page does not fit the layout (a value longer than VALUE_SLOT bytes or with a multi-byte character, a time
outside years 1 to 9999), `fetch_page_arrays` or `rows_text` returns None and the caller renders in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

import numpy as np
import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

from services.api.query.formats import VALUE_JSON, identity_members
from services.api.query.series import SeriesInfo

# PostgreSQL's binary timestamps count microseconds from 2000-01-01 UTC
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_UNIX_US = 946_684_800_000_000
DAY_S = 86_400
VALUE_SLOT = 24  # bytes of one value's JSON at most (a double takes 24 at most); longer strings render in SQL
FIRST_DAY, LAST_DAY = date(1, 1, 1).toordinal(), date(9999, 12, 31).toordinal()
UNIX_DAY_ORDINAL = date(1970, 1, 1).toordinal()
PAD = b"\x01"  # pads values' JSON to their slot: never in it (JSON escapes control characters)
CHUNK = 65_536  # rows laid out at a time: a million-row page needs no 100 MB of records at once

TIMESTAMPTZ_ARRAY_OID, INT8_ARRAY_OID, TEXT_OID = 1185, 1016, 25


class RawBinary(Loader):
    """Loads a binary column as its bytes (arrays are parsed by numpy, text is kept as bytes)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def page_arrays_sql(hot_source: str, packed_source: str, order_by: str, one_series: bool) -> str:
    """For each part of the readings (hot, packed): times, series ids (unless there is one series) and values'
    JSON of its first `limit + 1` rows in page order, as aggregates. One statement: one snapshot for both."""
    sids = "null::bigint[]" if one_series else "array_agg(x.sid)"

    def part(source: str) -> str:
        # each value padded to VALUE_SLOT characters with \x01; the longest value in bytes, and whether any
        # holds a character of more than one byte (then characters are not bytes and the slots not fixed)
        return f"""(select array_agg(x.time), {sids}, string_agg(rpad(x.v, {VALUE_SLOT}, E'\\x01'), ''),
                max(octet_length(x.v)), bool_or(octet_length(x.v) <> length(x.v))
            from (select r.time, r.series_id as sid, {VALUE_JSON} as v
                  from {source} order by {order_by} limit %(limit)s + 1) x)"""

    return f"select * from {part(hot_source)} hot(t, s, v, w, m), {part(packed_source)} packed(t, s, v, w, m)"


@dataclass
class PageArrays:
    """A page's rows in order: unix microseconds, series ids, and each value's JSON (fixed width, NUL-padded)."""

    unix_us: np.ndarray
    sids: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.unix_us)

    def __getitem__(self, rows: slice | np.ndarray) -> PageArrays:
        return PageArrays(self.unix_us[rows], self.sids[rows], self.values[rows])


def fetch_page_arrays(
    conn: psycopg.Connection, hot_source: str, packed_source: str, order_by: str, params: dict, ranks: dict[int, int]
) -> PageArrays | None:
    """The first `limit + 1` rows of both parts merged in (time, rank) order, or None when a value does not fit
    a slot. `ranks` maps series id to rank; the order (asc or desc) is the one `order_by` gives.

    `set_config(..., true)` lasts until the end of the transaction: the caller's (the API's request session)."""
    one_series = len(ranks) == 1
    with conn.cursor(binary=True) as cur:
        for oid in (TIMESTAMPTZ_ARRAY_OID, INT8_ARRAY_OID, TEXT_OID):
            cur.adapters.register_loader(oid, RawBinary)
        # In time order the hot part is the primary key's order: an index scan, not a sort. The default
        # random_page_cost (4, for spinning disks) prices that scan above a bitmap scan and a sort.
        cur.execute("select set_config('random_page_cost', '1.1', true)")
        row = cur.execute(page_arrays_sql(hot_source, packed_source, order_by, one_series), params).fetchone()
    assert row is not None  # aggregates without GROUP BY: always one row
    parts = []
    for times, sids, values, widest, multibyte in (row[:5], row[5:]):
        if times is None:
            continue
        if widest > VALUE_SLOT or multibyte:
            return None
        unix_us = _int8_array(times) + PG_EPOCH_UNIX_US
        ids = np.full(len(unix_us), next(iter(ranks))) if one_series else _int8_array(sids)
        parts.append(PageArrays(unix_us, ids, _values(values, widest)))
    if not parts:
        return PageArrays(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, "S1"))
    if len(parts) == 1:
        return parts[0]
    hot, packed = parts
    merged = PageArrays(
        np.concatenate([hot.unix_us, packed.unix_us]),
        np.concatenate([hot.sids, packed.sids]),
        np.concatenate([hot.values, packed.values]),
    )
    ids = np.array(sorted(ranks), dtype=np.int64)
    rank = np.array([ranks[i] for i in sorted(ranks)], dtype=np.int64)[np.searchsorted(ids, merged.sids)]
    order = np.lexsort((rank, merged.unix_us))  # (time, rank) ascending: unique, so desc is its reverse
    if "desc" in order_by:
        order = order[::-1]
    return merged[order[: params["limit"] + 1]]


def _int8_array(data: bytes) -> np.ndarray:
    """A one-dimensional binary PostgreSQL array of 8-byte integers without nulls, as int64."""
    ndim, _, _ = np.frombuffer(data, ">i4", 3)
    if ndim == 0:
        return np.empty(0, np.int64)
    (length,) = np.frombuffer(data, ">i4", 1, 12)
    # after the header (ndim, has-nulls, element type, length, lower bound): a 4-byte size before each element
    records = np.frombuffer(data, np.dtype([("size", ">i4"), ("value", ">i8")]), length, 20)
    return records["value"].astype(np.int64)


def _values(slots: bytes, widest: int) -> np.ndarray:
    """Values in VALUE_SLOT-byte slots padded with \\x01, as NUL-padded texts `widest` bytes wide."""
    cells = np.frombuffer(slots, np.uint8).reshape(-1, VALUE_SLOT)[:, :widest].copy()
    cells[cells == PAD[0]] = 0
    return cells.view(f"S{widest}").ravel()


@cache
def _clock_texts() -> np.ndarray:
    """`THH:MM:SS` for every second of a day."""
    return np.array([f"T{s // 3600:02}:{s // 60 % 60:02}:{s % 60:02}".encode() for s in range(DAY_S)], dtype="S9")


def _fraction_texts(micros: np.ndarray) -> np.ndarray:
    """`.ffffff` (all six digits) where there are microseconds, nothing where there are none."""
    digits = np.empty((len(micros), 7), dtype=np.uint8)
    digits[:, 0] = ord(".")
    for place in range(6):
        digits[:, 6 - place] = micros // 10**place % 10 + ord("0")
    out = digits.view("S7").ravel().copy()
    out[micros == 0] = b""
    return out


def rows_text(page: PageArrays, series: list[SeriesInfo]) -> bytes | None:
    """The rows' JSON objects joined by commas (no brackets), or None when a time is outside years 1 to 9999."""
    count = len(page)
    if count == 0:
        return b""
    seconds, micros = np.divmod(page.unix_us, 1_000_000)
    days, clock = np.divmod(seconds, DAY_S)
    if int(days.min()) + UNIX_DAY_ORDINAL < FIRST_DAY or int(days.max()) + UNIX_DAY_ORDINAL > LAST_DAY:
        return None
    ids = np.array(sorted(s.id for s in series), dtype=np.int64)
    by_id = {s.id: s for s in series}
    members = np.array([('"' + identity_members(by_id[int(i)]) + ',"value":').encode() for i in ids])
    texts = _day_texts(days)
    parts = [
        _records(texts[at : at + CHUNK], clock[at : at + CHUNK], micros[at : at + CHUNK],
                 members[np.searchsorted(ids, page.sids[at : at + CHUNK])], page.values[at : at + CHUNK])
        for at in range(0, count, CHUNK)
    ]  # fmt: skip
    return b"".join(parts)[:-1]


def _day_texts(days: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DD` of each day number (days since 1970-01-01)."""
    unique_days, day_index = np.unique(days, return_inverse=True)
    texts = [date.fromordinal(int(d) + UNIX_DAY_ORDINAL).isoformat().encode() for d in unique_days]
    return np.array(texts, dtype="S10")[day_index]


def _records(days: np.ndarray, clock: np.ndarray, micros: np.ndarray, members: np.ndarray, values: np.ndarray) -> bytes:
    """Rows as JSON objects, each followed by a comma."""
    fraction = micros.any()
    record = np.dtype(
        [
            ("open", "S9"),
            ("day", "S10"),
            ("clock", "S9"),
            *([("fraction", "S7")] if fraction else []),
            ("z", "S1"),
            ("members", members.dtype),
            ("value", values.dtype),
            ("close", "S2"),
        ]
    )
    rows = np.empty(len(days), record)
    rows["open"] = b'{"time":"'
    rows["day"] = days
    rows["clock"] = _clock_texts()[clock]
    if fraction:
        rows["fraction"] = _fraction_texts(micros)
    rows["z"] = b"Z"
    rows["members"] = members
    rows["value"] = values
    rows["close"] = b"},"
    return rows.tobytes().replace(b"\x00", b"")


def moment(unix_us: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=unix_us - PG_EPOCH_UNIX_US)
