"""Packed (cold) readings are read like hot ones: pages, cursor, export and latest go through readings_in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg

from services.worker.packing import pack
from tests.support.factories import make_dataset
from tests.support.readings import store

START = datetime(2026, 1, 30, tzinfo=UTC)  # four times on Jan 30 (packed), four on Jan 31 (hot)


def test_packed_and_hot_readings_read_as_one(client, settings):
    dataset = make_dataset(settings)
    readings = [
        (f"d{d}", "t", {}, START + timedelta(hours=6 * i), 2**53 + i * 10 + d) for i in range(8) for d in range(3)
    ]
    store(settings, dataset.id, readings[:12])
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        assert pack(conn, timedelta(days=1), now=START + timedelta(days=5)) == 12
        assert conn.execute("select count(*) from readings_packed").fetchone()[0] > 0
    store(settings, dataset.id, readings[12:])  # later ones stay hot
    url = f"/api/v1/datasets/{dataset.id}/data"
    seen, cursor = [], None
    while True:
        body = client.get(url, params={"key": dataset.read_key, "limit": 5, **({"cursor": cursor} if cursor else {})})
        seen += [(r["time"], r["device"], r["value"]) for r in body.json()["rows"]]
        if not (cursor := body.json()["next_cursor"]):
            break
    want = sorted((f"{m:%Y-%m-%dT%H:%M:%S}Z", d, v) for d, _, _, m, v in readings)
    assert seen == want
    lines = client.get(url, params={"key": dataset.read_key, "format": "ndjson"}).text.splitlines()
    assert [json.loads(line)["value"] for line in lines] == [v for *_, v in want]
    latest = client.get(f"/api/v1/datasets/{dataset.id}/latest", params={"key": dataset.read_key}).json()
    assert [s["value"] for s in latest["series"]] == [2**53 + 70, 2**53 + 71, 2**53 + 72]
