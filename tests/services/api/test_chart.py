"""The chart-data endpoint: raw points for short series, date_bin averages for long ones, numeric only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.api.charts import MAX_POINTS, bucket_for
from tests.support.factories import make_dataset
from tests.support.worker import drain

MINUTES = 2000  # one reading a minute: more than MAX_POINTS, so a 30-day chart averages them per hour


@pytest.fixture
def series(client, settings):
    """`temperature` (floats) and `door` (integers) every minute for 2000 minutes, `status` (text) once."""
    dataset = make_dataset(settings, variables=("temperature", "door", "status"))
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=5)
    readings = [
        {"time": (start + timedelta(minutes=i)).isoformat(), "values": {"temperature": i + 0.5, "door": i}}
        for i in range(MINUTES)
    ]
    readings.append({"time": start.isoformat(), "values": {"status": "ok"}})
    for first in range(0, len(readings), 1000):
        response = client.post(
            f"/api/v1/datasets/{dataset.id}/readings",
            headers={"X-Write-Key": dataset.write_key},
            json={"readings": readings[first : first + 1000]},
        )
        assert response.status_code == 202, response.text
    drain(settings)
    return dataset, start


def chart(client, dataset, **params):
    return client.get(f"/api/v1/datasets/{dataset.id}/chart", params={"key": dataset.read_key, **params})


def test_long_ranges_are_hourly_averages(client, series):
    dataset, start = series
    response = chart(client, dataset, range="month")
    assert response.status_code == 200, response.text
    lines = {line["variable"]: line for line in response.json()["lines"]}
    assert set(lines) == {"temperature", "door"}  # text is not charted
    hours = -(-MINUTES // 60)
    expected_t = [start.timestamp() + 3600 * h for h in range(hours)]
    for variable, offset in (("temperature", 0.5), ("door", 0)):
        line = lines[variable]
        assert line["bucket_s"] == 3600
        assert line["t"] == expected_t
        minutes = [list(range(h * 60, min(h * 60 + 60, MINUTES))) for h in range(hours)]
        assert line["v"] == pytest.approx([sum(m) / len(m) + offset for m in minutes])


def test_week_buckets_are_fifteen_minutes(client, series):
    dataset, _ = series
    line = next(
        line for line in chart(client, dataset, range="week").json()["lines"] if line["variable"] == "temperature"
    )
    assert line["bucket_s"] == 900 and len(line["t"]) == -(-MINUTES // 15)
    assert line["v"][:2] == pytest.approx([7.5, 22.5])  # mean of 0.5..14.5, of 15.5..29.5


def test_short_ranges_with_few_points_are_raw(client, series):
    dataset, start = series
    end = start + timedelta(minutes=30)
    body = chart(client, dataset, range="hour", end=end.isoformat()).json()
    line = next(line for line in body["lines"] if line["variable"] == "temperature")
    assert line["bucket_s"] is None
    assert line["t"] == [start.timestamp() + 60 * i for i in range(30)]
    assert line["v"] == [i + 0.5 for i in range(30)]


def test_an_empty_range_has_no_lines(client, series):
    dataset, start = series
    response = chart(client, dataset, range="day", end=(start - timedelta(days=2)).isoformat())
    assert response.status_code == 200 and response.json()["lines"] == []


def test_bucket_widths_keep_every_range_under_the_point_limit():
    assert [
        bucket_for(timedelta(hours=1)),
        bucket_for(timedelta(days=1)),
        bucket_for(timedelta(days=7)),
        bucket_for(timedelta(days=30)),
    ] == [5, 120, 900, 3600]
    for days in (1, 7, 30, 365):
        assert timedelta(days=days).total_seconds() / bucket_for(timedelta(days=days)) <= MAX_POINTS


def test_chart_refuses_bad_input_and_wrong_keys(client, settings):
    dataset = make_dataset(settings)
    other = make_dataset(settings, owner="mallory", name="Other")
    path = f"/api/v1/datasets/{dataset.id}/chart"
    bad = ({"range": "year"}, {"end": "yesterday"}, {"end": "0001-01-02T00:00:00Z"}, {"end": "1800-01-01T00:00:00Z"})
    for params in bad:
        response = client.get(path, params={"key": dataset.read_key, **params})
        assert response.status_code == 400, response.text
        assert set(response.json()) == {"error", "detail"}
    assert client.get(path).status_code == 404
    assert client.get(path, params={"key": dataset.write_key}).status_code == 404
    assert client.get(path, params={"key": other.read_key}).status_code == 404
    assert client.get(f"/api/v1/datasets/{other.id + 100}/chart", params={"key": dataset.read_key}).status_code == 404


def test_any_start_and_end_years_long_are_averaged(client, settings):
    dataset = make_dataset(settings, variables=("t",))
    from tests.support.readings import store

    first = datetime(2020, 1, 1, tzinfo=UTC)
    store(settings, dataset.id, [("", "t", {}, first + timedelta(days=d), d) for d in range(5 * 365)])
    body = chart(client, dataset, start="2020-01-01T00:00:00Z", end="2025-01-01T00:00:00Z").json()
    [line] = body["lines"]
    assert line["bucket_s"] == 2 * 86_400 and len(line["t"]) <= MAX_POINTS
    assert line["v"][:3] == [0.5, 2.5, 4.5] and line["t"][0] == first.timestamp()
    assert chart(client, dataset, start="2025-01-01", end="2020-01-01").status_code == 400
    assert "start" in chart(client, dataset, start="soon").json()["detail"]
