"""AutoPi uploads posted as a device would: receiver → Redis → worker → PostgreSQL → API (data, events, rejects)."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from tests.support.db import queued_jobs
from tests.support.factories import make_dataset, make_device, make_token
from tests.support.worker import drain

SAMPLES = Path(__file__).parents[1] / "samples" / "autopi"
SAMPLE_FILES = sorted(SAMPLES.glob("*.json"))


def post(client, token, body, **headers):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(
        "/autopi",
        content=content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )


def post_samples(client, token):
    for path in SAMPLE_FILES:
        response = post(client, token, path.read_bytes())
        assert response.status_code == 200, (path.name, response.text)


def data(client, dataset, **params):
    response = client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def events(client, dataset, **params):
    response = client.get(f"/api/v1/datasets/{dataset.id}/events", params={"key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["events"]


def queued(settings) -> int:
    return queued_jobs(settings)


def test_every_sample_is_queryable_with_its_type_and_time(client, settings):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id, "car1")
    post_samples(client, token)
    drain(settings)

    got = {row["variable"]: (row["value"], row["time"], row["device"]) for row in data(client, dataset)}
    track, bat = "2020-09-03T12:38:24.374314Z", "2021-02-24T09:03:09.310362Z"
    assert got["track.pos.loc.lat"] == (57.02241, track, "car1")
    assert got["track.pos.loc.lon"] == (9.89919, track, "car1")
    assert got["track.pos.utc"] == ("06:02:24", track, "car1")
    assert got["track.pos.nsat"] == (9, track, "car1")
    assert got["obd.bat.state"] == ("overcharging", bat, "car1")
    assert got["obd.bat.voltage"] == (15.4, bat, "car1")
    assert got["obd.bat.level"] == (100, bat, "car1")
    assert got["ec2x.data_usage.sent"] == (2695, "2021-02-24T09:03:02.570313Z", "car1")
    assert got["event.system.power.trigger"] == ("stn", "2021-02-24T09:02:02.532461Z", "car1")
    assert isinstance(got["obd.bat.level"][0], int) and isinstance(got["track.pos.cog"][0], float)
    assert set(got) == {
        *(f"track.pos.{f}" for f in ("utc", "cog", "nsat", "alt", "sog", "loc.lat", "loc.lon")),
        "obd.bat.voltage",
        "obd.bat.state",
        "obd.bat.level",
        "ec2x.data_usage.sent",
        "ec2x.data_usage.recv",
        "event.system.minion.@tag",
        "event.system.power.@tag",
        "event.system.power.trigger",
        "event.system.power.awaken",
    }
    assert events(client, dataset) == [
        {
            "time": "2021-02-24T09:02:02.532461Z",
            "type": "event.system.power",
            "tag": "system/power/on",
            "device": "car1",
            "fields": {"trigger": "stn", "awaken": "sleeping"},
        },
        {
            "time": "2021-02-24T09:02:12.192479Z",
            "type": "event.system.minion",
            "tag": "system/minion/online",
            "device": "car1",
            "fields": {},
        },
    ]
    # variables are registered on first sight, after the dataset's existing ones
    described = client.get(f"/api/v1/datasets/{dataset.id}", params={"key": dataset.read_key}).json()
    assert {v["tag"] for v in described["variables"]} == set(got)


def test_event_filters_by_type_tag_and_time(client, settings):
    dataset = make_dataset(settings, variables=())
    post_samples(client, make_device(settings, dataset.id))
    drain(settings)
    assert [e["tag"] for e in events(client, dataset, type="event.system.minion")] == ["system/minion/online"]
    assert [e["type"] for e in events(client, dataset, tag="system/power/on")] == ["event.system.power"]
    assert [e["tag"] for e in events(client, dataset, start="2021-02-24T09:02:10Z")] == ["system/minion/online"]
    assert events(client, dataset, end="2021-02-24T09:00:00Z") == []
    bad = client.get(f"/api/v1/datasets/{dataset.id}/events", params={"key": dataset.read_key, "start": "soon"})
    assert bad.status_code == 400 and "start" in bad.json()["detail"]


def test_the_same_batch_posted_twice_is_stored_once(client, settings):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id)
    post_samples(client, token)
    drain(settings)
    first_rows, first_events = data(client, dataset), events(client, dataset)
    first_count = client.get(f"/api/v1/datasets/{dataset.id}", params={"key": dataset.read_key}).json()
    post_samples(client, token)
    drain(settings)
    assert data(client, dataset) == first_rows
    assert events(client, dataset) == first_events
    again = client.get(f"/api/v1/datasets/{dataset.id}", params={"key": dataset.read_key}).json()
    assert again["entry_count"] == first_count["entry_count"] == len(first_rows)
    assert again["variables"] == first_count["variables"]


def test_a_broken_record_is_listed_as_rejected_and_the_rest_is_stored(client, settings):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id)
    broken = {"@t": "obd.bat", "@ts": "half past nine", "voltage": 11.0}
    batch = [
        {"@t": "obd.bat", "@ts": "2026-01-01T00:00:00Z", "voltage": 12.5},
        broken,
        {"@t": "obd.bat", "@ts": "2026-01-01T00:00:01Z", "voltage": 12.6},
    ]
    response = post(client, token, batch)
    assert response.status_code == 200, response.text
    drain(settings)
    assert [row["value"] for row in data(client, dataset)] == [12.5, 12.6]
    listed = client.get(f"/api/v1/datasets/{dataset.id}/rejected", params={"key": dataset.read_key}).json()
    [record] = listed["records"]
    assert record["source"] == "http" and record["format"] == "autopi" and record["device"] == "car1"
    assert "@ts" in record["reason"] and "ISO-8601" in record["reason"]
    assert orjson.loads(record["raw"]) == broken
    assert listed["next_before_id"] is None


def test_rejected_records_page_newest_first(client, settings):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id)
    for n in range(3):
        assert post(client, token, [{"@t": f"bad{n}", "x": 1}]).status_code == 200
        drain(settings)
    url = f"/api/v1/datasets/{dataset.id}/rejected"
    page = client.get(url, params={"key": dataset.read_key, "limit": 2}).json()
    assert [orjson.loads(r["raw"])["@t"] for r in page["records"]] == ["bad2", "bad1"]
    rest = client.get(url, params={"key": dataset.read_key, "limit": 2, "before_id": page["next_before_id"]}).json()
    assert [orjson.loads(r["raw"])["@t"] for r in rest["records"]] == ["bad0"] and rest["next_before_id"] is None
    assert client.get(url, params={"key": dataset.read_key, "limit": 0}).status_code == 400


def test_rejected_and_events_need_read_access(client, settings):
    dataset = make_dataset(settings, variables=())
    other = make_dataset(settings, owner="bob", variables=())
    other_device = make_device(settings, other.id, "van")
    for path in ("rejected", "events"):
        url = f"/api/v1/datasets/{dataset.id}/{path}"
        # a private dataset answers strangers as if it did not exist (issue 10: existence is private)
        assert client.get(url).status_code == 404
        assert client.get(url, params={"key": other.read_key}).status_code == 404
        assert client.get(url, headers={"Authorization": f"Bearer {other_device}"}).status_code == 404
        assert client.get(url, headers={"Authorization": f"Bearer {make_token(settings, 'bob')}"}).status_code == 404
        assert client.get(url, headers={"Authorization": f"Bearer {make_token(settings)}"}).status_code == 200


def test_gzip_body_is_accepted(client, settings):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id)
    body = gzip.compress((SAMPLES / "track_pos.json").read_bytes())
    response = post(client, token, body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    drain(settings)
    assert {r["variable"] for r in data(client, dataset)} >= {"track.pos.loc.lat", "track.pos.loc.lon"}


def test_a_body_that_is_not_a_json_array_is_refused_and_nothing_is_queued(client, settings):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id)
    for body, expected in (
        (b'{"@t": "obd.bat"}', "JSON array"),
        (b"[{", "not JSON"),
        (b"", "not JSON"),
        (b"\xff[]", "not JSON"),
    ):
        response = post(client, token, body)
        assert response.status_code == 400, body
        assert expected in response.json()["detail"]
    bad_gzip = post(client, token, b"[]", **{"Content-Encoding": "gzip"})
    assert bad_gzip.status_code == 400 and "gzip" in bad_gzip.json()["detail"]
    assert queued(settings) == 0


def test_size_and_count_limits(client, settings, monkeypatch):
    dataset = make_dataset(settings, variables=())
    token = make_device(settings, dataset.id)
    too_many = [{"@t": "x", "@ts": "2026-01-01T00:00:00Z", "v": 1}] * (settings.max_records + 1)
    response = post(client, token, too_many)
    assert response.status_code == 413 and str(settings.max_records) in response.json()["detail"]
    huge = orjson.dumps([{"@t": "x", "@ts": "2026-01-01T00:00:00Z", "pad": "x" * settings.max_body_bytes}])
    assert post(client, token, huge).status_code == 413
    assert post(client, token, gzip.compress(huge), **{"Content-Encoding": "gzip"}).status_code == 413
    assert queued(settings) == 0


def test_no_or_wrong_token_is_refused(client, settings):
    dataset = make_dataset(settings, variables=())
    make_device(settings, dataset.id)
    body = (SAMPLES / "obd_bat.json").read_bytes()
    assert client.post("/autopi", content=body).status_code == 401
    assert client.post("/autopi", content=body, headers={"Authorization": "Basic abc"}).status_code == 401
    wrong = post(client, "0" * 40, body)
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    assert post(client, dataset.read_key, body).status_code == 401
    assert queued(settings) == 0


def test_a_write_key_also_uploads_without_a_device(client, settings):
    dataset = make_dataset(settings, variables=())
    assert post(client, dataset.write_key, (SAMPLES / "obd_bat.json").read_bytes()).status_code == 200
    drain(settings)
    assert {(r["variable"], "device" in r) for r in data(client, dataset)} == {
        ("obd.bat.voltage", False),
        ("obd.bat.state", False),
        ("obd.bat.level", False),
    }


def test_new_variables_are_registered_after_existing_ones_and_take_no_field_slot(client, settings):
    dataset = make_dataset(settings, variables=("temperature",), accept_new_variables=True)
    assert post(client, make_device(settings, dataset.id), (SAMPLES / "obd_bat.json").read_bytes()).status_code == 200
    drain(settings)
    described = client.get(f"/api/v1/datasets/{dataset.id}", params={"key": dataset.read_key}).json()
    assert [(v["tag"], v["declared"]) for v in described["variables"]] == [
        ("temperature", True),
        ("obd.bat.level", False),
        ("obd.bat.state", False),
        ("obd.bat.voltage", False),
    ]
    assert client.get("/update", params={"key": dataset.write_key, "obd.bat.level": "5"}).status_code == 200
    channel = client.get(f"/channels/{dataset.id}.json", params={"api_key": dataset.read_key}).json()
    assert channel["field1"] == "temperature" and "field2" not in channel  # ThingSpeak slots stay the owner's
