"""A refreshed or revoked device token is refused within a second by another ingest process, too."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.factories import make_dataset, make_token
from tests.support.http import wait_for
from tests.support.processes import served

RECORDS = orjson.dumps([{"@t": "obd.bat", "@ts": "2026-01-01T00:00:00Z", "voltage": 12.5}])


@pytest.fixture
def second_ingest(settings) -> Iterator[str]:
    """`ownstream serve ingest` as its own process, with this test's environment; yields its base URL."""
    with served("ingest", "/update") as url:
        yield url


def upload(base: str, token: str) -> int:
    return httpx.post(
        f"{base}/autopi", content=RECORDS, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).status_code


def test_refresh_and_revoke_reach_a_second_ingest_process_within_a_second(client, settings, second_ingest):
    dataset = make_dataset(settings)
    owner = {"Authorization": f"Bearer {make_token(settings)}"}
    made = client.post("/api/devices/create", json={"deviceId": "car1", "datasetId": dataset.id}, headers=owner)
    old = made.json()["token"]
    assert upload(second_ingest, old) == 200  # the second process now holds the token in its cache

    new = client.post("/api/devices/car1/token", headers=owner).json()["token"]
    wait_for(lambda: upload(second_ingest, old) == 401, timeout=1.0, what="old token refused by the 2nd process")
    assert upload(second_ingest, new) == 200

    assert client.delete("/api/devices/car1", headers=owner).status_code == 204
    wait_for(lambda: upload(second_ingest, new) == 401, timeout=1.0, what="revoked token refused by the 2nd process")
