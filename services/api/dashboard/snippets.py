"""Copy-paste snippets for sending to a dataset over every protocol, with this server's real URLs."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request

from shared.broker_accounts import device_username
from shared.models import Dataset

WRITE_KEY = "WRITE_KEY"
READ_KEY = "READ_KEY"
DEVICE_TOKEN = "DEVICE_TOKEN"
LINE_MEASUREMENT = "sensors"  # line protocol stores field f of measurement m as variable m.f


@dataclass(frozen=True)
class Snippet:
    """One example: a title, the text to copy, and a line saying what it does."""

    id: str
    title: str
    text: str
    note: str = ""


@dataclass(frozen=True)
class Server:
    """Where devices reach this server: the HTTP base URL and the MQTT broker host."""

    base_url: str
    mqtt_host: str

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def server_of(request: Request) -> Server:
    """Where devices reach this server, as the browser reached it."""
    return Server(str(request.base_url).rstrip("/"), request.url.hostname or "localhost")


def _sample(dataset: Dataset) -> list[tuple[str, float]]:
    tags = [v.tag for v in dataset.variables][:2] or ["temperature"]
    return [(tag, 21.5 + 10 * i) for i, tag in enumerate(tags)]


def _line(dataset: Dataset) -> tuple[str, str]:
    """A line-protocol line for the first variable, and the variable it is stored as."""
    tag = _sample(dataset)[0][0]
    measurement, dot, field = tag.rpartition(".")
    if not dot:
        measurement, field = LINE_MEASUREMENT, tag
    name = measurement.replace(",", "\\,").replace(" ", "\\ ")
    key = field.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    return f"{name},room=kitchen {key}=21.5", f"{measurement}.{field}"


def dataset_snippets(
    dataset: Dataset, server: Server, write_key: str = WRITE_KEY, read_key: str = READ_KEY
) -> list[Snippet]:
    """Ways to write to (and read from) `dataset` with its write key."""
    base, sample = server.base_url, _sample(dataset)
    query = "&".join(f"{tag}={value}" for tag, value in sample)
    values = json.dumps({"readings": [{"values": dict(sample)}]})
    line, line_variable = _line(dataset)
    q = shlex.quote
    return [
        Snippet(
            "curl-update",
            "HTTP: /update (ThingSpeak style)",
            f"curl {q(f'{base}/update?api_key={write_key}&{query}')}",
            "GET or POST; answers with the entry id.",
        ),
        Snippet(
            "curl-json",
            "HTTP: native JSON",
            f"curl -X POST {q(f'{base}/api/v1/datasets/{dataset.id}/readings')} \\\n"
            f"  -H {q(f'X-Write-Key: {write_key}')} -H 'Content-Type: application/json' \\\n"
            f"  -d {q(values)}",
            'Add "time" (ISO-8601) and "device" to a reading as needed; several readings per request.',
        ),
        Snippet(
            "arduino",
            "Arduino: ThingSpeak library",
            "// In ThingSpeak.h, point the library at this server:\n"
            f'#define THINGSPEAK_URL "{server.host}"\n'
            f"#define THINGSPEAK_PORT_NUMBER {server.port}\n\n"
            "// in setup(): ThingSpeak.begin(client);\n"
            f'ThingSpeak.writeField({dataset.id}, 1, value, "{write_key}");  // field1 = {sample[0][0]}',
            "fieldN is the dataset's N-th variable.",
        ),
        Snippet(
            "influx-line",
            "InfluxDB line protocol",
            f"curl -XPOST {q(f'{base}/api/v2/write?bucket={dataset.id}&precision=s')} \\\n"
            f"  -H {q(f'Authorization: Token {write_key}')} --data-binary {q(line)}",
            f"Field f of measurement m is stored as variable m.f (here {line_variable}); tags stay with the series.",
        ),
        Snippet(
            "telegraf",
            "Telegraf: outputs.influxdb_v2",
            "[[outputs.influxdb_v2]]\n"
            f'  urls = ["{base}"]\n'
            f'  token = "{write_key}"\n'
            '  organization = "any"\n'
            f'  bucket = "{dataset.id}"',
        ),
        *mqtt_dataset_snippets(dataset, server, write_key),
        Snippet(
            "read",
            "Read it back",
            f"curl {q(f'{base}/api/v1/datasets/{dataset.id}/data?key={read_key}&start=-1h')}",
            "format=csv gives CSV; bucket=1m&agg=avg,min,max downsamples.",
        ),
    ]


def mqtt_dataset_snippets(dataset: Dataset, server: Server, write_key: str) -> list[Snippet]:
    """mosquitto_pub for each topic form that takes the dataset's write key."""
    q, sample = shlex.quote, _sample(dataset)
    pub = f"mosquitto_pub -h {q(server.mqtt_host)} -q 1"
    line, _ = _line(dataset)
    pairs = "&".join(f"{tag}={value}" for tag, value in sample)
    return [
        Snippet(
            "mqtt-publish",
            "MQTT: ThingSpeak pairs",
            f"{pub} -t {q(f'channels/{dataset.id}/publish/{write_key}')} -m {q(pairs)}",
        ),
        Snippet(
            "mqtt-field",
            "MQTT: one field",
            f"{pub} -t {q(f'channels/{dataset.id}/publish/fields/field1/{write_key}')} -m '21.5'",
            f"field1 is {sample[0][0]}.",
        ),
        Snippet(
            "mqtt-influx",
            "MQTT: line protocol",
            f"{pub} -t {q(f'datasets/{dataset.id}/influx/{write_key}')} -m {q(line)}",
        ),
    ]


def device_snippets(dataset: Dataset, server: Server, device_id: str, token: str = DEVICE_TOKEN) -> list[Snippet]:
    """Ways a registered device sends with its own token: AutoPi, MQTT telemetry, HTTP."""
    q, sample = shlex.quote, _sample(dataset)
    pub = f"mosquitto_pub -h {q(server.mqtt_host)} -q 1"
    telemetry = json.dumps(dict(sample))
    autopi = json.dumps([{"@t": "obd.bat", "@ts": "2026-03-01T12:00:00Z", "state": "charging", "voltage": 12.6}])
    return [
        Snippet(
            "autopi",
            "AutoPi dongle",
            f"Cloud API URL:   {server.base_url}\nAuth token:      {token}",
            "The dongle POSTs its record arrays to /autopi; each field becomes a variable <@t>.<path>.",
        ),
        Snippet(
            "device-http",
            "HTTP with the device token",
            f"curl -X POST {q(f'{server.base_url}/api/v1/datasets/{dataset.id}/readings')} \\\n"
            f"  -H {q(f'X-Write-Key: {token}')} -H 'Content-Type: application/json' \\\n"
            f"  -d {q(json.dumps({'readings': [{'values': dict(sample)}]}))}",
        ),
        Snippet(
            "mqtt-telemetry",
            "MQTT: telemetry",
            f"{pub} -t {q(f'devices/{token}/telemetry')} -m {q(telemetry)}",
            'Or {"ts": epoch_ms, "values": {...}}, or an array of them.',
        ),
        Snippet("mqtt-autopi", "MQTT: AutoPi array", f"{pub} -t {q(f'devices/{token}/autopi')} -m {q(autopi)}"),
        Snippet(
            "mqtt-registered",
            "MQTT: broker account (when the broker checks device accounts)",
            f"{pub} -u {q(device_username(dataset.id, device_id))} -P {q(token)} \\\n"
            f"  -t {q(f'registered/{dataset.id}/{device_id}/telemetry')} -m {q(telemetry)}",
            "Also …/autopi, …/influx and …/publish under the same root.",
        ),
    ]
