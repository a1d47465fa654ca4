"""Inputs found by fuzzing: a clear 4xx at the edge, or kept aside in the worker; never a 500 or a stall."""

from __future__ import annotations

import orjson
import psycopg

from services.worker import tasks
from shared.queue import make_message
from tests.support.factories import make_dataset, make_device
from tests.support.worker import drain


def write(client, dataset, body: str, bucket: str | None = None):
    return client.post(
        "/api/v2/write",
        params={"bucket": bucket or str(dataset.id)},
        content=body.encode(),
        headers={"Authorization": f"Token {dataset.write_key}"},
    )


def stored(settings) -> int:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute("select count(*) from readings").fetchone()[0]


def test_line_protocol_oddities_are_refused_at_the_edge(client, settings):
    dataset = make_dataset(settings)
    huge_tags = "m," + ",".join(f"t{i}=v{i}" for i in range(5000)) + " x=1"
    for body in (huge_tags, "m x=" + "9" * 5000 + "i", "m x=\u0663"):
        response = write(client, dataset, body)
        assert response.status_code == 400, body[:40]
        assert response.headers["X-Influxdb-Error"].isascii()
    for bucket in ("9" * 5000, "1\x00", "\u0661"):
        response = write(client, dataset, "m x=1", bucket=bucket)
        assert response.status_code == 404 and response.headers["X-Influxdb-Error"].isprintable()
    drain(settings)
    assert stored(settings) == 0


def test_a_series_too_large_to_index_is_rejected_not_retried(settings):
    dataset = make_dataset(settings)
    huge_tags = "m," + ",".join(f"t{i}=v{i}" for i in range(5000)) + " x=1 1767225600000000000"
    good = make_message("lineproto", dataset.id, "m x=2 1767225600000000000", source="http", params={"precision": "ns"})
    bad = make_message("lineproto", dataset.id, huge_tags, source="http", params={"precision": "ns"})
    result = tasks.ingest_batch([good, bad])  # must return, not raise (RQ would retry it for days)
    assert (result["stored"], result["rejected"]) == (1, 1)


def test_deep_nesting_is_refused_or_kept_aside(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    deep = '{"readings": [{"values": {"temperature": ' + '{"a":' * 1000 + "1" + "}" * 1000 + "}}]}"
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings",
        content=deep,
        headers={"X-Write-Key": dataset.write_key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and "nested" in response.json()["detail"]

    token = make_device(settings, dataset.id, "car-1")
    records = (
        '[{"@t": "event.a", "@ts": "2026-06-01T00:00:00Z", "v": '
        + "[" * 300
        + "1"
        + "]" * 300
        + "}, "
        + orjson.dumps(
            [
                {"@t": "x" * 1000, "@ts": "2026-06-01T00:00:00Z", "v": 1},
                {"@t": "obd.bat", "@ts": "2026-06-01T00:00:00Z", "level": 5},
            ]
        ).decode()[1:]
    )
    response = client.post("/autopi", content=records, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    drain(settings)  # fails the test if the job failed
    rejected = client.get(f"/api/v1/datasets/{dataset.id}/rejected", params={"key": dataset.read_key}).json()
    reasons = sorted(r["reason"] for r in rejected["records"])
    assert len(reasons) == 2 and "nested deeper" in reasons[1] and "@t is longer" in reasons[0]
    assert stored(settings) == 1


def test_huge_numbers_in_pushes_are_kept_as_text_and_aggregate(client, settings):
    dataset = make_dataset(settings, variables=("field1",))
    assert client.get("/update", params={"api_key": dataset.write_key, "field1": "9" * 5000}).status_code == 200
    for _ in range(2):
        assert client.get("/update", params={"api_key": dataset.write_key, "field1": "1e308"}).status_code == 200
    drain(settings)
    rows = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key}).json()["rows"]
    assert sorted(str(r["value"])[:5] for r in rows) == ["1e+30", "1e+30", "99999"]
    for param in ("average", "sum"):
        response = client.get(
            f"/channels/{dataset.id}/feeds.json", params={"api_key": dataset.read_key, param: "daily"}
        )
        assert response.status_code == 200, response.text
