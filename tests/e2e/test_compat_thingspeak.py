"""The unmodified `thingspeak` PyPI client (every public method of thingspeak.Channel, json and csv) against a real
server, and what ThingSpeak clients see of a dataset that also gets other protocols' data."""

from __future__ import annotations

import csv
import gzip
import io
import xml.etree.ElementTree as ET

import httpx
import orjson
import pytest
import thingspeak

from tests.e2e.conftest import data_rows
from tests.support.factories import make_dataset, make_device
from tests.support.worker import drain


def channel(url: str, dataset_id: int, key: str, fmt: str) -> thingspeak.Channel:
    return thingspeak.Channel(dataset_id, api_key=key, fmt=fmt, server_url=url, timeout=10)


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.e2e
def test_every_channel_method_in_json_and_csv(ownstream_url, settings):
    dataset = make_dataset(settings, name="Garden", variables=("field1", "field2"))
    entry = orjson.loads(
        channel(ownstream_url, dataset.id, dataset.write_key, "json").update(
            {"field1": 21.5, "field2": "7", "status": "ok"}
        )
    )
    assert (entry["entry_id"], entry["field1"], entry["field2"], entry["status"]) == (1, "21.5", "7", "ok")
    assert channel(ownstream_url, dataset.id, dataset.write_key, "csv").update({"field1": 22}) == "2"
    drain(settings)

    as_json = channel(ownstream_url, dataset.id, dataset.read_key, "json")
    feed = orjson.loads(as_json.get({"results": 10}))
    assert [(f["entry_id"], f["field1"], f["field2"]) for f in feed["feeds"]] == [(1, "21.5", "7"), (2, "22", None)]
    assert (feed["channel"]["id"], feed["channel"]["field1"], feed["channel"]["last_entry_id"]) == (
        dataset.id,
        "field1",
        2,
    )
    field = orjson.loads(as_json.get_field(2))
    assert [(f["entry_id"], f["field2"]) for f in field["feeds"]] == [(1, "7"), (2, None)]
    assert orjson.loads(as_json.get_field_last(1)) | {"created_at": None} == {
        "created_at": None,
        "entry_id": 2,
        "field1": "22",
    }
    age = orjson.loads(as_json.get_last_data_age(1))
    assert age["last_data_age_units"] == "s" and 0 <= int(age["last_data_age"]) < 60
    view = orjson.loads(as_json.view())
    assert (view["id"], view["name"], view["field2"], view["last_entry_id"]) == (dataset.id, "Garden", "field2", 2)

    as_csv = channel(ownstream_url, dataset.id, dataset.read_key, "csv")
    rows = csv_rows(as_csv.get({"results": 10}))
    assert [(r["entry_id"], r["field1"], r["field2"]) for r in rows] == [("1", "21.5", "7"), ("2", "22", "")]
    assert [(r["entry_id"], r["field1"]) for r in csv_rows(as_csv.get_field(1))] == [("1", "21.5"), ("2", "22")]
    assert as_csv.get_field_last(1) == "22"
    assert 0 <= int(as_csv.get_last_data_age(1)) < 60
    assert orjson.loads(as_csv.view())["id"] == dataset.id  # the channel has no CSV form: JSON

    as_xml = channel(ownstream_url, dataset.id, dataset.read_key, "xml")  # the client's third format
    view_xml = ET.fromstring(as_xml.view())
    assert (view_xml.tag, view_xml.findtext("id"), view_xml.findtext("last-entry-id")) == (
        "channel",
        str(dataset.id),
        "2",
    )
    assert [f.findtext("entry-id") for f in ET.fromstring(as_xml.get()).iter("feed")] == ["1", "2"]
    field2 = [f.find("field2") for f in ET.fromstring(as_xml.get_field(2)).iter("feed")]
    assert [(e.text, e.get("nil")) for e in field2] == [("7", None), (None, "true")]
    for single_value in (as_xml.get_field_last, as_xml.get_last_data_age):  # not supported in XML (README)
        with pytest.raises(Exception, match="404"):
            single_value(1)

    missing = channel(ownstream_url, dataset.id, dataset.read_key, "json")
    with pytest.raises(Exception, match="404"):
        missing.get_last_data_age(3)  # no field3
    with pytest.raises(Exception, match="404"):  # a private channel answers a wrong key as if it did not exist
        channel(ownstream_url, dataset.id, "wrong-key", "csv").get()


@pytest.mark.e2e
def test_feeds_xml_and_status(ownstream_url, settings):
    dataset = make_dataset(settings, name="Shed <1>", variables=("field1",))
    writer = channel(ownstream_url, dataset.id, dataset.write_key, "csv")
    writer.update({"field1": 1, "status": "door & window open"})
    writer.update({"field1": 2})
    drain(settings)
    xml = httpx.get(f"{ownstream_url}/channels/{dataset.id}/feeds.xml", params={"api_key": dataset.read_key})
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.content)
    assert root.findtext("name") == "Shed <1>"
    assert [(f.findtext("entry-id"), f.findtext("field1")) for f in root.iter("feed")] == [("1", "1"), ("2", "2")]
    status = httpx.get(f"{ownstream_url}/channels/{dataset.id}/status.json", params={"api_key": dataset.read_key})
    assert [(f["entry_id"], f["status"]) for f in status.json()["feeds"]] == [(1, "door & window open")]
    assert httpx.get(f"{ownstream_url}/channels/{dataset.id}/status.json").status_code == 404  # private: looks missing


@pytest.mark.e2e
def test_feeds_of_a_mixed_dataset_hold_thingspeak_entries_only(ownstream_url, settings):
    dataset = make_dataset(settings, variables=("field1",), accept_new_variables=True)
    writer = channel(ownstream_url, dataset.id, dataset.write_key, "csv")
    assert writer.update({"field1": 1}) == "1"
    influx = httpx.post(
        f"{ownstream_url}/api/v2/write",
        params={"bucket": dataset.id, "precision": "s"},
        headers={"Authorization": f"Token {dataset.write_key}"},
        content='weather temperature=3,door="open"\nweather field1=9',
    )
    assert influx.status_code == 204, influx.text
    token = make_device(settings, dataset.id, "car-1")
    autopi = httpx.post(
        f"{ownstream_url}/autopi",
        headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"},
        content=gzip.compress(b'[{"@t": "obd.bat", "@ts": "2026-03-01T12:00:00Z", "voltage": 12.5}]'),
    )
    assert autopi.status_code == 200, autopi.text
    assert writer.update({"field1": 2, "field2": 5}) == "2"  # field2: not weather.temperature, a new variable
    native = httpx.post(  # newer than entry 2, into field1's own variable, but no ThingSpeak entry
        f"{ownstream_url}/api/v1/datasets/{dataset.id}/readings",
        headers={"X-Write-Key": dataset.write_key},
        json={"readings": [{"values": {"field1": 7}}]},
    )
    assert native.status_code == 202, native.text
    drain(settings)

    feed = orjson.loads(channel(ownstream_url, dataset.id, dataset.read_key, "json").get())
    assert feed["channel"]["field2"] == "field2" and "field3" not in feed["channel"]
    assert [(f["entry_id"], f["field1"], f["field2"]) for f in feed["feeds"]] == [(1, "1", None), (2, "2", "5")]
    as_csv = channel(ownstream_url, dataset.id, dataset.read_key, "csv")
    rows = csv_rows(as_csv.get())
    assert [r["entry_id"] for r in rows] == ["1", "2"]  # integers only: pandas reads the column as int64
    assert as_csv.get_field_last(1) == "2"  # the newest entry's, not the JSON reading's
    last = httpx.get(f"{ownstream_url}/channels/{dataset.id}/feeds/last.json", params={"api_key": dataset.read_key})
    assert (last.json()["entry_id"], last.json()["field1"]) == (2, "2")
    assert [r["value"] for r in data_rows(ownstream_url, dataset.id, dataset.read_key, vars="field1")] == [1, 2, 7]
    described = httpx.get(f"{ownstream_url}/api/v1/datasets/{dataset.id}", params={"key": dataset.read_key}).json()
    declared = {v["tag"]: v["declared"] for v in described["variables"]}
    assert declared == {
        "field1": True,
        "weather.temperature": False,
        "weather.door": False,
        "weather.field1": False,
        "obd.bat.voltage": False,
        "field2": False,
    }
