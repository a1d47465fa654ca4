"""Bad input at the receivers: a clear 4xx (or 503) JSON error, and nothing queued or stored."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from services.combined import create_app
from tests.support.db import queued_jobs, reading_count, scalar
from tests.support.factories import make_dataset
from tests.support.services import free_port
from tests.support.worker import drain


def assert_nothing_stored(settings) -> None:
    assert queued_jobs(settings) == 0
    drain(settings)
    assert reading_count(settings) == 0
    assert scalar(settings, "select count(*) from rejected_records") == 0


def native(client, dataset, body, *, key=None, headers=None):
    """POST `body` (a dict as JSON, or raw bytes / a byte iterator) to the dataset's native route."""
    headers = {"X-Write-Key": dataset.write_key if key is None else key, **(headers or {})}
    url = f"/api/v1/datasets/{dataset.id}/readings"
    if isinstance(body, dict):
        return client.post(url, json=body, headers=headers)
    return client.post(url, content=body, headers={"Content-Type": "application/json", **headers})


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    return body["detail"]


# unknown variables ---------------------------------------------------------------------------------------------


def test_push_unknown_variable_is_named_and_nothing_stored(client, settings):
    dataset = make_dataset(settings)
    response = client.get("/update", params={"key": dataset.write_key, "temperature": "1", "pressure": "990"})
    assert "'pressure'" in error_of(response, 400)
    assert_nothing_stored(settings)


def test_native_unknown_variable_is_named_and_nothing_stored(client, settings):
    dataset = make_dataset(settings)
    body = {
        "readings": [
            {"time": "2026-01-01T00:00:00Z", "values": {"temperature": 1}},
            {"time": "2026-01-01T00:00:01Z", "values": {"temperature": 2, "pressure": 990}},
        ]
    }
    detail = error_of(native(client, dataset, body), 400)
    assert "'pressure'" in detail and "readings[1]" in detail
    assert_nothing_stored(settings)


# keys ----------------------------------------------------------------------------------------------------------


def test_push_without_a_valid_write_key_is_401(client, settings):
    dataset = make_dataset(settings)
    for key in (None, "", "0" * 40, dataset.read_key):
        params = {"temperature": "1"} if key is None else {"key": key, "temperature": "1"}
        error_of(client.get("/update", params=params), 401)
        error_of(client.post("/update", data=params), 401)
    assert_nothing_stored(settings)


def test_native_without_a_valid_write_key_is_401(client, settings):
    dataset = make_dataset(settings)
    other = make_dataset(settings, name="Other")
    body = {"readings": [{"values": {"temperature": 1}}]}
    url = f"/api/v1/datasets/{dataset.id}/readings"
    error_of(client.post(url, json=body), 401)
    for key in ("", "0" * 40, dataset.read_key, other.write_key):
        error_of(client.post(url, json=body, headers={"X-Write-Key": key}), 401)
    assert_nothing_stored(settings)


# malformed native bodies ---------------------------------------------------------------------------------------

MALFORMED = {
    "not-json": (b"{readings: [", "not JSON"),
    "empty-body": (b"", "not JSON"),
    "a-list": (b"[1, 2]", '{"readings": [...]}'),
    "no-readings": (b'{"values": {"temperature": 1}}', '{"readings": [...]}'),
    "readings-not-list": (b'{"readings": {"temperature": 1}}', '{"readings": [...]}'),
    "readings-empty": (b'{"readings": []}', "empty"),
    "reading-not-object": (b'{"readings": [3]}', "readings[0] must be an object"),
    "values-missing": (b'{"readings": [{"time": "2026-01-01T00:00:00Z"}]}', "readings[0].values"),
    "values-empty": (b'{"readings": [{"values": {}}]}', "readings[0].values"),
    "values-not-object": (b'{"readings": [{"values": [1]}]}', "readings[0].values"),
    "bad-time": (b'{"readings": [{"time": "yesterday", "values": {"temperature": 1}}]}', "readings[0].time"),
    "number-time": (b'{"readings": [{"time": 1700000000, "values": {"temperature": 1}}]}', "readings[0].time"),
    "ancient-time": (b'{"readings": [{"time": "1899-01-01T00:00:00Z", "values": {"temperature": 1}}]}', "before 2000"),
    "future-time": (b'{"readings": [{"time": "2999-01-01T00:00:00Z", "values": {"temperature": 1}}]}', "future"),
    "null-value": (b'{"readings": [{"values": {"temperature": null}}]}', "readings[0].values.temperature: null"),
    "bad-device": (b'{"readings": [{"device": 7, "values": {"temperature": 1}}]}', "readings[0].device"),
    "deep-unknown": (b'{"readings": [{"values": {"loc": {"lat": 1, "gps": {"alt": 5}}}}]}', "'loc.gps.alt'"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_native_body_is_400_naming_the_problem(client, settings, case):
    dataset = make_dataset(settings, variables=("temperature", "loc.lat"))
    body, expected = MALFORMED[case]
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings",
        content=body,
        headers={"X-Write-Key": dataset.write_key, "Content-Type": "application/json"},
    )
    assert expected in error_of(response, 400)
    assert_nothing_stored(settings)


def test_too_many_readings_in_one_request_is_400(client, settings):
    dataset = make_dataset(settings)
    body = {"readings": [{"values": {"temperature": i}} for i in range(settings.max_records + 1)]}
    assert f"at most {settings.max_records}" in error_of(native(client, dataset, body), 400)
    assert_nothing_stored(settings)


# size limits ---------------------------------------------------------------------------------------------------


def padded_body(size: int) -> bytes:
    head = b'{"readings": [{"values": {"status": "'
    tail = b'"}}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_body_over_the_limit_is_413(client, settings):
    dataset = make_dataset(settings)
    body = padded_body(settings.max_body_bytes + 1)
    error_of(native(client, dataset, body), 413)

    def streamed():  # no Content-Length: the limit holds while reading
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    error_of(native(client, dataset, streamed()), 413)
    assert_nothing_stored(settings)


def test_body_at_the_limit_is_accepted(client, settings):
    dataset = make_dataset(settings)
    response = native(client, dataset, padded_body(settings.max_body_bytes))
    assert response.status_code == 202, response.text


def test_gzip_bomb_is_413(client, settings):
    dataset = make_dataset(settings)
    bomb = gzip.compress(padded_body(50 * settings.max_body_bytes))
    assert len(bomb) < settings.max_body_bytes // 10
    response = native(client, dataset, bomb, headers={"Content-Encoding": "gzip"})
    assert "decompressed" in error_of(response, 413)
    assert_nothing_stored(settings)


def test_gzip_body_within_the_limit_round_trips(client, settings):
    dataset = make_dataset(settings)
    body = b'{"readings": [{"time": "2026-01-01T00:00:00Z", "values": {"temperature": 4.5}}]}'
    response = native(client, dataset, gzip.compress(body), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 202, response.text
    drain(settings)
    assert reading_count(settings, dataset.id) == 1


def test_corrupt_gzip_is_400(client, settings):
    dataset = make_dataset(settings)
    response = native(client, dataset, b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    assert "gzip" in error_of(response, 400)
    assert_nothing_stored(settings)


def test_form_push_over_the_limit_is_413(client, settings):
    dataset = make_dataset(settings)
    body = f"key={dataset.write_key}&status=" + "x" * settings.max_body_bytes
    response = client.post("/update", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    error_of(response, 413)
    assert_nothing_stored(settings)


# Redis unreachable ---------------------------------------------------------------------------------------------


def test_redis_unreachable_is_503_and_nothing_half_stored(settings):
    dataset = make_dataset(settings)
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(dead)) as dead_client:
        push = dead_client.get("/update", params={"key": dataset.write_key, "temperature": "1"})
        batch = native(dead_client, dataset, {"readings": [{"values": {"temperature": 1, "humidity": 2}}]})
    for response in (push, batch):
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "queue_unavailable"
        assert "Redis" in response.json()["detail"]
        assert response.headers["Retry-After"]
    assert_nothing_stored(settings)
