"""SQL expressions that render readings as JSON or CSV text inside PostgreSQL (no Python object per row)."""

from __future__ import annotations

import orjson

from services.api.query.series import SeriesInfo

# ISO-8601 UTC with a trailing Z; microseconds (all six) only when there are some, as orjson writes datetimes.
# From the timestamp's own text output (ISO DateStyle, as psycopg needs): to_char costs five times more.
_UTC_TEXT = "replace((r.time at time zone 'UTC')::text, ' ', 'T')"
TIME_TEXT = (
    f"case when date_part('microseconds', r.time)::bigint %% 1000000 = 0 then {_UTC_TEXT} || 'Z' "
    f"else rpad({_UTC_TEXT}, 26, '0') || 'Z' end"
)
EPOCH_TEXT = "date_part('epoch', r.time)::text"

# The value as a JSON literal. Integers are v_int (bigint) text: exact at any size, never through a double.
# A whole double keeps a `.0` so that it reads back as a number with a fraction, as it was sent.
VALUE_JSON = (
    "case when r.v_num is not null then case when r.v_num = trunc(r.v_num) and abs(r.v_num) < 1e15 "
    "then r.v_num::text || '.0' else r.v_num::text end "
    "when r.v_int is not null then r.v_int::text "
    "when r.v_bool is not null then r.v_bool::text else to_json(r.v_str)::text end"
)
VALUE_TEXT = "coalesce(r.v_int::text, r.v_num::text, r.v_bool::text, r.v_str)"
NUMERIC = "(r.v_num is not null or r.v_int is not null)"

# `k.frag` is the series' identity as JSON members (`,"variable":"t","device":"d"`), computed once per series
ROW_JSON = f"""'{{"time":"' || {TIME_TEXT} || '"' || k.frag || ',"value":' || {VALUE_JSON} || '}}'"""
CSV_HEADER = "time,variable,device,tags,value"


def identity_members(series: SeriesInfo) -> str:
    """The series' identity as JSON object members, each preceded by a comma."""
    text = ',"variable":' + orjson.dumps(series.variable).decode()
    if series.device:
        text += ',"device":' + orjson.dumps(series.device).decode()
    if series.tags:
        text += ',"tags":' + orjson.dumps(series.tags, option=orjson.OPT_SORT_KEYS).decode()
    return text


def tags_text(series: SeriesInfo) -> str:
    """Tags as a CSV cell: JSON, or empty when the series has none."""
    return orjson.dumps(series.tags, option=orjson.OPT_SORT_KEYS).decode() if series.tags else ""
