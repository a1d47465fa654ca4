"""The dispatcher is the MQTT edge: topic → credential → one format's accept, or a reject, or a counted drop."""

from __future__ import annotations

import orjson
import pytest

from services.ingest.credentials import Credential
from services.ingest.mqtt_dispatch import KEYLESS_PER_MINUTE, Dispatcher
from services.ingest.topics import redact
from shared.config import Settings

WRITE = Credential(3, "write", None, ("field1", "temperature"))
READ = Credential(3, "read", None, ("field1", "temperature"))
DEVICE = Credential(3, "device", "car-1", ("field1", "temperature"), accepts_new=True)
KEYS = {"wk": WRITE, "rk": READ, "tok": DEVICE}


@pytest.fixture
def dispatcher():
    settings = Settings(max_body_bytes=2048)
    return Dispatcher(settings, KEYS.get)


def test_push_and_field_forms_become_push_messages(dispatcher):
    outcome = dispatcher.dispatch("channels/3/publish/wk", b"field1=2&created_at=2026-01-01T00:00:00Z", 1.5e9)
    assert outcome.verdict == "accepted"
    message = outcome.message
    assert (message["format"], message["dataset_id"], message["payload"], message["source"]) == (
        "push",
        3,
        {"field1": "2"},
        "mqtt",
    )
    assert message["params"] == {"created_at": "2026-01-01T00:00:00+00:00", "entries": 1}
    assert message["received_at"] == 1.5e9
    field = dispatcher.dispatch("channels/3/publish/fields/field1/wk", b"45", 1.5e9).message
    assert field["format"] == "push" and field["payload"] == {"field1": "45"}


def test_telemetry_carries_the_device(dispatcher):
    outcome = dispatcher.dispatch("devices/tok/telemetry", orjson.dumps({"temperature": 1}), 1.5e9)
    assert outcome.verdict == "accepted"
    assert (outcome.message["format"], outcome.message["device"]) == ("telemetry", "car-1")


@pytest.mark.parametrize(
    ("topic", "payload", "label", "reason"),
    [
        ("channels/3/publish/wrong", b"field1=1", "unauthorized", "invalid write key"),
        ("channels/3/publish/rk", b"field1=1", "unauthorized", "cannot write"),
        ("channels/4/publish/wk", b"field1=1", "unauthorized", "does not write dataset 4"),
        ("channels/3/publish/wk", b"pressure=1", "bad_payload", "unknown field 'pressure'"),
        ("channels/3/publish/wk", b"field1=1&field1=2", "bad_payload", "more than once"),
        ("channels/3/publish/wk", b"\xff\xfe", "bad_payload", "not UTF-8"),
        ("channels/3/publish/wk", b"field1=" + b"1" * 3000, "too_large", "over the limit"),
        ("devices/tok/telemetry", b"[1, 2", "bad_payload", "not JSON"),
        ("devices/tok/telemetry", b'{"ts": 1, "values": {"temperature": 1}}', "bad_payload", "before 2000"),
    ],
)
def test_refusals_with_a_known_dataset_become_reject_messages(dispatcher, topic, payload, label, reason):
    outcome = dispatcher.dispatch(topic, payload, 1.5e9)
    assert (outcome.verdict, outcome.reason) == ("rejected", label)
    message = outcome.message
    assert message["format"] == "reject" and message["source"] == "mqtt"
    assert message["dataset_id"] == (4 if "channels/4" in topic else 3)
    assert reason in message["params"]["reason"]
    assert "wk" not in message["params"]["topic"].split("/") and "tok" not in message["params"]["topic"]
    assert len(message["payload"]) <= 4096


@pytest.mark.parametrize(
    ("topic", "label"),
    [
        ("devices/nope/telemetry", "unauthorized"),
        ("channels/x/publish/wk", "bad_topic"),
        ("somewhere/else", "bad_topic"),
    ],
)
def test_refusals_without_a_dataset_are_drops(dispatcher, topic, label):
    outcome = dispatcher.dispatch(topic, b"{}", 1.5e9)
    assert (outcome.message, outcome.verdict, outcome.reason) == (None, "dropped", label)


@pytest.mark.parametrize(
    ("form", "payload"),
    [("telemetry", b'{"temperature": 1}'), ("autopi", b'[{"@t": "obd.bat", "@ts": "2026-01-01T00:00:00Z", "v": 1}]')],
)
def test_device_topics_take_the_dataset_write_key_as_http_does(dispatcher, form, payload):
    """As POST /autopi and every other HTTP write: a device token or the write key (the readings have no device)."""
    outcome = dispatcher.dispatch(f"devices/wk/{form}", payload, 1.5e9)
    assert outcome.verdict == "accepted"
    assert (outcome.message["format"], outcome.message["dataset_id"], outcome.message.get("device")) == (form, 3, None)
    refused = dispatcher.dispatch(f"devices/rk/{form}", payload, 1.5e9)  # a read key: refused into its dataset
    assert (refused.verdict, refused.reason, refused.message["dataset_id"]) == ("rejected", "unauthorized", 3)
    assert "cannot write" in refused.message["params"]["reason"]
    assert "not kept" in refused.message["payload"]  # as for any refused credential: what it sent is not stored


REGISTERED = {(3, "car-1"): DEVICE}


def registered_dispatcher(resolve_device=REGISTERED.get) -> Dispatcher:
    settings = Settings(max_body_bytes=2048)
    return Dispatcher(settings, KEYS.get, lambda dataset, device: resolve_device((dataset, device)))


@pytest.mark.parametrize(
    ("form", "payload", "fmt"),
    [
        ("telemetry", b'{"temperature": 1}', "telemetry"),
        ("publish", b"field1=2", "push"),
        ("influx", b"m temperature=1 1767225600000000000", "lineproto"),
        ("autopi", b'[{"@t": "obd.bat", "@ts": "2026-01-01T00:00:00Z", "voltage": 12.5}]', "autopi"),
    ],
)
def test_registered_topics_act_for_the_device_the_broker_named(form, payload, fmt):
    outcome = registered_dispatcher().dispatch(f"registered/3/car-1/{form}", payload, 1.5e9)
    assert outcome.verdict == "accepted", outcome
    message = outcome.message
    assert (message["format"], message["dataset_id"], message["device"]) == (fmt, 3, "car-1")


def test_a_device_not_in_the_registry_is_rejected_into_its_dataset():
    outcome = registered_dispatcher().dispatch("registered/3/car-9/telemetry", b'{"temperature": 1}', 1.5e9)
    assert (outcome.verdict, outcome.reason) == ("rejected", "unauthorized")
    assert outcome.message["dataset_id"] == 3 and outcome.message["device"] == "car-9"
    assert "not registered" in outcome.message["params"]["reason"]
    other_dataset = registered_dispatcher().dispatch("registered/4/car-1/telemetry", b'{"temperature": 1}', 1.5e9)
    assert other_dataset.verdict == "rejected"  # car-1 is registered in dataset 3 only


def test_without_broker_accounts_registered_topics_are_not_trusted(dispatcher):
    outcome = dispatcher.dispatch("registered/3/car-1/telemetry", b'{"temperature": 1}', 1.5e9)
    assert (outcome.verdict, outcome.reason) == ("rejected", "unauthorized")


def test_wrong_key_refusals_are_recorded_at_a_bounded_rate_without_their_payload(dispatcher):
    outcomes = [
        dispatcher.dispatch("channels/3/publish/wrong", b"spam" * 100, 1.5e9 + i / 100)
        for i in range(KEYLESS_PER_MINUTE + 5)
    ]
    recorded = [o for o in outcomes if o.verdict == "rejected"]
    assert len(recorded) == KEYLESS_PER_MINUTE
    assert all("spam" not in o.message["payload"] for o in recorded)
    assert dispatcher.dispatch("channels/3/publish/wrong", b"x", 1.5e9 + 61).verdict == "rejected"  # next minute


@pytest.mark.parametrize(
    "topic",
    [
        "channels/1/publish/SECRETKEY/",
        "datasets/1/influx/SECRETKEY/x",
        "devices/SECRETTOKEN",
        "channels/SECRETKEY",
    ],
)
def test_malformed_topics_never_show_a_key(topic):
    assert "SECRET" not in redact(topic)
