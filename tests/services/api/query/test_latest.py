"""/latest: the newest reading of every matching series, in series order, filters as /data has them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from tests.support.factories import make_dataset
from tests.support.readings import store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_latest_of_each_matching_series_in_series_order(client, settings):
    dataset = make_dataset(settings)
    store(
        settings,
        dataset.id,
        [
            ("d2", "temp", {"room": "a"}, T0, 1.0),
            ("d2", "temp", {"room": "a"}, T0 + timedelta(minutes=5), 2.0),  # the newer one
            ("d1", "temp", {}, T0 + timedelta(minutes=1), 2**53 + 1),
            ("", "door", {}, T0 + timedelta(minutes=2), "open"),
            ("d1", "armed", {}, T0 + timedelta(minutes=3), True),
        ],
    )
    with psycopg.connect(settings.database_url, autocommit=True) as conn:  # a series without readings: left out
        conn.execute("insert into series (dataset_id, variable) values (%s, 'empty')", (dataset.id,))
    url, key = f"/api/v1/datasets/{dataset.id}/latest", {"key": dataset.read_key}

    def latest(**params):
        response = client.get(url, params={**key, **params})
        assert response.status_code == 200, response.text
        return [(s["variable"], s["device"], s["tags"], s["time"], s["value"]) for s in response.json()["series"]]

    assert latest() == [
        ("armed", "d1", {}, "2026-03-01T00:03:00Z", True),
        ("door", None, {}, "2026-03-01T00:02:00Z", "open"),
        ("temp", "d1", {}, "2026-03-01T00:01:00Z", 2**53 + 1),
        ("temp", "d2", {"room": "a"}, "2026-03-01T00:05:00Z", 2.0),
    ]
    assert [s[:2] for s in latest(vars="temp")] == [("temp", "d1"), ("temp", "d2")]
    assert [s[:2] for s in latest(device="d1")] == [("armed", "d1"), ("temp", "d1")]
    assert [s[:2] for s in latest(tag="room:a")] == [("temp", "d2")]
    assert latest(vars="nothing") == []
