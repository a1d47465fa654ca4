"""The range and latest queries refuse bad parameters with a 400 naming the parameter, and keep access rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.api.query.times import parse_moment
from tests.support.factories import make_dataset
from tests.support.readings import store

BAD = [
    ({"start": "yesterday"}, "start"),
    ({"end": "2026-13-01"}, "end"),
    ({"start": "-24x"}, "start"),
    ({"start": "99999999999999999"}, "start"),
    ({"start": "2026-01-02", "end": "2026-01-01"}, "end"),
    ({"order": "up"}, "order"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"limit": "1000001"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"bucket": "5 parsecs"}, "bucket"),
    ({"bucket": "0s"}, "bucket"),
    ({"bucket": "1h", "agg": "avg,median"}, "agg"),
    ({"agg": "avg"}, "agg"),
    ({"bucket": "1h", "fill": "zero"}, "fill"),
    ({"fill": "null"}, "fill"),
    ({"bucket": "auto", "points": "0"}, "points"),
    ({"bucket": "1h", "points": "10"}, "points"),
    ({"format": "xml"}, "format"),
    ({"format": "csv", "bucket": "1h"}, "format"),
    ({"tag": "nocolon"}, "tag"),
    ({"bucket": "1s", "fill": "null", "start": "2000-01-01", "end": "2026-01-01"}, "bucket"),
]


@pytest.fixture
def dataset(settings):
    made = make_dataset(settings)
    store(settings, made.id, [("", "temperature", {}, datetime(2026, 1, 1, tzinfo=UTC), 1.5)])
    return made


@pytest.mark.parametrize(("params", "name"), BAD, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD)])
def test_every_bad_parameter_is_a_400_naming_it(client, dataset, params, name):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, **params})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "bad_request" and name in body["detail"], body


def test_a_cursor_of_the_other_order_is_refused(client, dataset, settings):
    store(settings, dataset.id, [("", "temperature", {}, datetime(2026, 1, 1, 0, 1, tzinfo=UTC), 2.5)])
    url = f"/api/v1/datasets/{dataset.id}/data"
    first = client.get(url, params={"key": dataset.read_key, "limit": 1}).json()
    assert first["next_cursor"]
    response = client.get(
        url, params={"key": dataset.read_key, "limit": 1, "order": "desc", "cursor": first["next_cursor"]}
    )
    assert response.status_code == 400 and "cursor" in response.json()["detail"]


def test_latest_refuses_a_bad_tag_filter(client, dataset):
    response = client.get(f"/api/v1/datasets/{dataset.id}/latest", params={"key": dataset.read_key, "tag": "x"})
    assert response.status_code == 400 and "tag" in response.json()["detail"]


@pytest.mark.parametrize("path", ["data", "latest"])
def test_wrong_key_and_private_dataset_are_refused(client, dataset, path):
    url = f"/api/v1/datasets/{dataset.id}/{path}"
    missing = client.get(f"/api/v1/datasets/{dataset.id + 1000}/{path}")
    assert missing.status_code == 404
    for params in ({}, {"key": "wrong"}, {"key": dataset.write_key}):  # a private dataset looks missing
        refused = client.get(url, params=params)
        assert (refused.status_code, refused.json()["detail"].replace(str(dataset.id), "N")) == (
            404,
            missing.json()["detail"].replace(str(dataset.id + 1000), "N"),
        )
    assert client.get(url, params={"key": dataset.read_key}).status_code == 200


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "columns"])
def test_wrong_key_is_refused_in_every_format(client, dataset, fmt):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": "wrong", "format": fmt})
    assert response.status_code == 404  # a private dataset answers a wrong key as if it did not exist


def test_time_forms():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_moment("now", now) == now
    assert parse_moment("-24h", now) == now - timedelta(hours=24)
    assert parse_moment("-7d", now) == now - timedelta(days=7)
    assert parse_moment("now-90s", now) == now - timedelta(seconds=90)
    assert parse_moment("1772366400") == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_moment("1772366400500") == datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    assert parse_moment("1772366400.25") == datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert parse_moment("2026-03-01T13:00:00+01:00") == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
