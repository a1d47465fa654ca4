"""Regenerating a write key: a running ingest process refuses the old key within one second."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.support.factories import PASSWORD, make_dataset
from tests.support.processes import run_cli, served

REVOCATION_BOUND_S = 1.0


@pytest.fixture
def ingest_url(settings):
    """A separate `ownstream serve ingest` process with the shipped key-cache poll interval."""
    with served("ingest", "/update", env={"OWNSTREAM_KEY_CACHE_POLL_S": "0.25"}) as url:
        yield url


def push(url: str, key: str) -> int:
    return httpx.get(f"{url}/update", params={"key": key, "temperature": "1"}, timeout=5).status_code


def seconds_until_refused(url: str, key: str, since: float) -> float:
    deadline = since + 5
    while time.monotonic() < deadline:
        if push(url, key) == 401:
            return time.monotonic() - since
        time.sleep(0.01)
    raise AssertionError("the old key was still accepted 5 s after it was regenerated")


def check_rotation(url: str, old: str, new: str, since: float) -> None:
    elapsed = seconds_until_refused(url, old, since)
    assert elapsed < REVOCATION_BOUND_S, f"old key refused only after {elapsed:.3f}s"
    assert push(url, old) == 401
    assert push(url, new) == 200


def test_api_regeneration_refuses_the_old_write_key(client, settings, ingest_url):
    dataset = make_dataset(settings)
    assert push(ingest_url, dataset.write_key) == 200  # cached as valid in the ingest process
    assert client.post("/api/v1/auth/login", json={"username": dataset.owner, "password": PASSWORD}).status_code == 200
    response = client.post(f"/api/v1/datasets/{dataset.id}/keys/write/regenerate")
    since = time.monotonic()
    assert response.status_code == 200, response.text
    check_rotation(ingest_url, dataset.write_key, response.json()["key"], since)


def test_cli_regeneration_refuses_the_old_write_key(settings, ingest_url):
    dataset = make_dataset(settings)
    assert push(ingest_url, dataset.write_key) == 200
    result = run_cli("dataset", "keys", "regenerate", str(dataset.id), "write", "--json")
    since = time.monotonic()
    assert result.returncode == 0, result.stderr
    answer = orjson.loads(result.stdout)
    assert answer["id"] == dataset.id and answer["kind"] == "write" and answer["key"] != dataset.write_key
    check_rotation(ingest_url, dataset.write_key, answer["key"], since)
