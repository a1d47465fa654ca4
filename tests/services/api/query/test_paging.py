"""Keyset paging: every row exactly once, in order, even when 50 rows share each timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import make_dataset
from tests.support.readings import store

START = datetime(2026, 2, 28, 23, 59, 58, tzinfo=UTC)
TIMES = [START + timedelta(seconds=i) for i in range(8)]  # crosses into March (another partition)


@pytest.fixture
def crowded(settings):
    """50 series (devices d00..d49) with a reading at each of 8 shared timestamps: 400 rows."""
    dataset = make_dataset(settings)
    readings = [
        (f"d{d:02}", "t", {"rack": str(d % 3)}, moment, d * 100 + i)
        for i, moment in enumerate(TIMES)
        for d in range(50)
    ]
    store(settings, dataset.id, readings)
    return dataset, readings


def pages(client, dataset, limit, order, fmt="json"):
    url, rows, cursor, requests = f"/api/v1/datasets/{dataset.id}/data", [], None, 0
    while True:
        params = {"key": dataset.read_key, "limit": limit, "order": order, "format": fmt}
        if cursor:
            params["cursor"] = cursor
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        requests += 1
        if fmt == "json":
            assert body["count"] == len(body["rows"]) <= limit
            rows += [(r["time"], r["device"], r["value"]) for r in body["rows"]]
        else:
            rows += [(t, s["device"], v) for s in body["series"] for t, v in zip(s["time"], s["value"], strict=True)]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, requests


@pytest.mark.parametrize("limit", [1, 7, 1000])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_row_exactly_once(client, crowded, limit, order):
    dataset, readings = crowded
    rows, requests = pages(client, dataset, limit, order)
    assert len(rows) == len(readings) == len(set(rows))
    assert requests == -(-len(readings) // limit)  # no empty last page
    expected = sorted(((f"{m:%Y-%m-%dT%H:%M:%S}Z", d, v) for d, _, _, m, v in readings), reverse=order == "desc")
    assert rows == expected


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_columns_pages_too(client, crowded, order):
    dataset, readings = crowded
    rows, _ = pages(client, dataset, 7, order, fmt="columns")
    assert sorted(rows) == sorted((m.timestamp(), d, v) for d, _, _, m, v in readings)
    assert len(set(rows)) == len(readings)


def test_next_start_still_points_at_the_first_row_left_out(client, crowded):
    dataset, _ = crowded
    body = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, "limit": 60}).json()
    assert body["truncated"] and body["next_start"] == "2026-02-28T23:59:59Z"
    assert body["rows"][-1]["time"] == "2026-02-28T23:59:59Z"  # 60 rows end inside the second timestamp


def test_filters_and_cursor_together(client, crowded):
    dataset, _ = crowded
    seen, cursor = [], None
    while True:
        params = {
            "key": dataset.read_key,
            "limit": 5,
            "tag": "rack:1",
            "start": TIMES[2].isoformat(),
            "end": TIMES[5].isoformat(),
            **({"cursor": cursor} if cursor else {}),
        }
        body = client.get(f"/api/v1/datasets/{dataset.id}/data", params=params).json()
        seen += [(r["time"], r["device"]) for r in body["rows"]]
        assert all(r["tags"] == {"rack": "1"} for r in body["rows"])
        if not (cursor := body["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == 3 * len([d for d in range(50) if d % 3 == 1])
