"""Bucketed aggregation equals the same aggregation computed from the raw readings, for every agg."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.api.query.buckets import bucketed
from services.api.query.params import AGGS
from services.api.query.times import align
from tests.support.factories import make_dataset
from tests.support.readings import store

BIG = 2**53
START = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)  # the span crosses the January/February partition boundary
END = START + timedelta(hours=9)


def _values(rng: random.Random, kind: str, i: int):
    if kind == "float":
        return rng.uniform(-50, 50)
    if kind == "int":
        return BIG + rng.randint(-1000, 1000) if i % 3 == 0 else rng.randint(-(10**6), 10**6)
    return rng.randint(-100, 100) if i % 2 else rng.uniform(-100, 100)


@pytest.fixture
def loaded(settings):
    """Three numeric series (floats, ints above 2^53 among small ints, mixed) and a text one; resent once."""
    dataset = make_dataset(settings)
    rng = random.Random(7)
    readings = []
    for kind, step in (("float", 7), ("int", 11), ("mixed", 5)):
        for i in range(int((END - START).total_seconds() // 60 // step)):
            readings.append(
                ("", kind, {}, START + timedelta(minutes=step * i, seconds=rng.randint(0, 59)), _values(rng, kind, i))
            )
    readings.append(("", "text", {}, START, "hello"))
    assert store(settings, dataset.id, readings) == len(readings)
    late = readings[::10]  # resent late: stored once, counted once
    assert store(settings, dataset.id, list(reversed(late))) == 0
    with psycopg.connect(settings.database_url) as conn:
        ids = dict(conn.execute("select variable, id from series where dataset_id = %s", [dataset.id]).fetchall())
    return dataset, ids, readings


def expected(readings, variable, start, end, bucket, agg):
    groups: dict[datetime, list] = {}
    for _, var, _, moment, value in sorted(readings, key=lambda r: r[3]):
        if var == variable and start <= moment < end:
            groups.setdefault(align(moment, bucket), []).append(value)
    out = {}
    for moment, values in sorted(groups.items()):
        exact = all(isinstance(v, int) for v in values)
        numbers = values if exact else [float(v) for v in values]
        out[moment] = {
            "avg": sum(values) / len(values),
            "min": min(numbers),
            "max": max(numbers),
            "sum": sum(numbers),
            "count": len(values),
            "first": numbers[0],
            "last": numbers[-1],
        }[agg]
    return out


@pytest.mark.parametrize("bucket", [timedelta(minutes=15), timedelta(hours=1), timedelta(days=1)])
def test_bucketed_equals_aggregation_of_raw_readings(settings, loaded, bucket):
    _dataset, ids, readings = loaded
    start, end = START + timedelta(minutes=20), END - timedelta(minutes=30)
    with psycopg.connect(settings.database_url) as conn, conn.cursor() as cur:
        rows = bucketed(cur, [ids["float"], ids["int"], ids["mixed"], ids["text"]], start, end, bucket, AGGS)
    assert [r[:2] for r in rows] == sorted(r[:2] for r in rows)
    for variable in ("float", "int", "mixed"):
        got = {r[1]: r[2:] for r in rows if r[0] == ids[variable]}
        for index, agg in enumerate(AGGS):
            want = expected(readings, variable, start, end, bucket, agg)
            assert list(got) == list(want), (variable, agg)
            for moment, value in want.items():
                value_got = got[moment][index]
                if isinstance(value, int) and agg != "avg":
                    assert value_got == value and type(value_got) is int, (variable, agg, moment)
                else:
                    assert value_got == pytest.approx(value, rel=1e-12), (variable, agg, moment)
    assert all(r[0] != ids["text"] for r in rows)


def test_http_buckets_columns_and_rows_agree_with_bucketed(client, settings, loaded):
    dataset, _ids, readings = loaded
    params = {
        "key": dataset.read_key,
        "start": START.isoformat(),
        "end": END.isoformat(),
        "bucket": "1h",
        "agg": "min,max,avg,count",
        "vars": "int,float",
    }
    url = f"/api/v1/datasets/{dataset.id}/data"
    columns = client.get(url, params={**params, "format": "columns"}).json()
    assert columns["bucket"] == "1h" and columns["bucket_s"] == 3600
    assert [s["variable"] for s in columns["series"]] == ["float", "int"]
    ints = columns["series"][1]
    want_max = expected(readings, "int", START, END, timedelta(hours=1), "max")
    assert ints["time"] == [m.timestamp() for m in want_max]
    assert ints["max"] == list(want_max.values())  # exact above 2^53 through JSON
    assert ints["count"] == list(expected(readings, "int", START, END, timedelta(hours=1), "count").values())
    rows = client.get(url, params=params).json()["rows"]
    assert [(r["variable"], r["max"]) for r in rows if r["variable"] == "int"] == list(
        zip(["int"] * len(want_max), want_max.values(), strict=True)
    )
    assert rows == sorted(rows, key=lambda r: (r["time"], r["variable"]))


def test_fill_null_lists_empty_buckets(client, settings):
    dataset = make_dataset(settings)
    store(settings, dataset.id, [("", "t", {}, START, 1), ("", "t", {}, START + timedelta(hours=3), 2)])
    body = client.get(
        f"/api/v1/datasets/{dataset.id}/data",
        params={"key": dataset.read_key, "bucket": "1h", "agg": "sum", "fill": "null", "format": "columns"},
    ).json()
    [line] = body["series"]
    assert line["sum"] == [1, None, None, 2]
    assert line["time"] == [(START + timedelta(hours=h)).timestamp() for h in range(4)]
    plain = client.get(
        f"/api/v1/datasets/{dataset.id}/data",
        params={"key": dataset.read_key, "bucket": "1h", "agg": "sum", "format": "columns"},
    ).json()
    assert plain["series"][0]["sum"] == [1, 2]


def test_auto_bucket_keeps_to_the_points_asked(client, settings, loaded):
    dataset, _, _ = loaded
    body = client.get(
        f"/api/v1/datasets/{dataset.id}/data",
        params={
            "key": dataset.read_key,
            "bucket": "auto",
            "points": 20,
            "vars": "float",
            "format": "columns",
            "start": START.isoformat(),
            "end": END.isoformat(),
        },
    ).json()
    assert body["bucket"] == "30m" and body["bucket_s"] == 1800  # 9 h / 20 = 27 min, rounded up to 30
    assert 0 < len(body["series"][0]["time"]) <= 20
