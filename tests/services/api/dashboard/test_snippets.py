"""Snippets carry this server's URLs and keys, and every topic and line they show is one Ownstream accepts."""

from __future__ import annotations

import json
import shlex

import pytest

from services.api.dashboard.snippets import Server, dataset_snippets, device_snippets
from services.ingest.topics import parse_topic
from shared import lineproto
from shared.models import Dataset, Variable

SERVER = Server("http://iot.example:8000", "broker.example")


def dataset(*tags: str) -> Dataset:
    return Dataset(id=7, name="Garden", variables=[Variable(tag=t, name="", position=i) for i, t in enumerate(tags)])


def option(text: str, flag: str) -> str:
    words = shlex.split(text.replace("\\\n", " "))
    return words[words.index(flag) + 1]


def test_dataset_snippets_use_the_server_and_the_key():
    snippets = {s.id: s.text for s in dataset_snippets(dataset("temperature", "humidity"), SERVER, "wk123", "rk456")}
    assert option(snippets["curl-update"], "curl") == (
        "http://iot.example:8000/update?api_key=wk123&temperature=21.5&humidity=31.5"
    )
    assert "http://iot.example:8000/api/v1/datasets/7/readings" in snippets["curl-json"]
    assert json.loads(option(snippets["curl-json"], "-d")) == {
        "readings": [{"values": {"temperature": 21.5, "humidity": 31.5}}]
    }
    assert '#define THINGSPEAK_URL "iot.example"' in snippets["arduino"]
    assert "#define THINGSPEAK_PORT_NUMBER 8000" in snippets["arduino"]
    assert 'ThingSpeak.writeField(7, 1, value, "wk123")' in snippets["arduino"]
    assert 'bucket = "7"' in snippets["telegraf"] and 'token = "wk123"' in snippets["telegraf"]
    assert 'urls = ["http://iot.example:8000"]' in snippets["telegraf"]
    assert "key=rk456" in snippets["read"]


@pytest.mark.parametrize(
    ("tags", "variable"), [(("temperature",), "sensors.temperature"), (("weather.temp_c",), "weather.temp_c")]
)
def test_line_protocol_snippets_parse_to_the_variable_they_name(tags, variable):
    snippets = {s.id: s for s in dataset_snippets(dataset(*tags), SERVER, "wk")}
    line = option(snippets["influx-line"].text, "--data-binary")
    point = lineproto.parse_line(line, 1)
    assert [lineproto.variable(point.measurement, f) for f in point.fields] == [variable]
    assert variable in snippets["influx-line"].note
    assert option(snippets["mqtt-influx"].text, "-m") == line


def test_every_mqtt_snippet_names_a_topic_form_the_bridge_accepts():
    forms = {}
    for snippet in [
        *dataset_snippets(dataset("temperature"), SERVER, "wk"),
        *device_snippets(dataset("temperature"), SERVER, "car-1", "tok"),
    ]:
        if snippet.text.startswith("mosquitto_pub"):
            assert option(snippet.text, "-h") == "broker.example"
            route = parse_topic(option(snippet.text, "-t"))
            forms[snippet.id] = (route.format, route.key or route.device, route.dataset_id)
    assert forms == {
        "mqtt-publish": ("push", "wk", 7),
        "mqtt-field": ("push", "wk", 7),
        "mqtt-influx": ("lineproto", "wk", 7),
        "mqtt-telemetry": ("telemetry", "tok", None),
        "mqtt-autopi": ("autopi", "tok", None),
        "mqtt-registered": ("telemetry", "car-1", 7),
    }


def test_device_snippets_carry_the_token():
    snippets = {s.id: s.text for s in device_snippets(dataset("temperature"), SERVER, "car-1", "tok")}
    assert "http://iot.example:8000" in snippets["autopi"] and "tok" in snippets["autopi"]
    assert option(snippets["device-http"], "-H") == "X-Write-Key: tok"
    assert option(snippets["mqtt-registered"], "-u") == "device:7:car-1"
    assert isinstance(json.loads(option(snippets["mqtt-autopi"], "-m")), list)
