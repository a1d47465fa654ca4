"""Per-device broker accounts follow the registry (API and CLI), the bridge routes registered/..., sync repairs.

Against a private Mosquitto running the dynamic security plugin, never the machine's shared broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli.broker import init_dynamic_security
from services.cli.main import app as cli
from services.combined import create_app
from services.ingest.mqtt import Bridge
from shared.broker_accounts import BrokerAdmin, device_accounts, device_username, provision_device
from shared.config import Settings, get_settings
from tests.support.dashboard import form_login, post_form
from tests.support.factories import make_dataset, make_device, make_token
from tests.support.http import wait_for
from tests.support.mqtt import Peer, PrivateBroker, start_broker
from tests.support.worker import drain

ADMIN, ADMIN_PASSWORD = "ownstream-admin", "admin-password-for-tests"
SAMPLES = "/work/shared/samples/autopi"


@dataclass
class Stack:
    settings: Settings  # with OWNSTREAM_MQTT_DYNSEC on, pointing at `broker`
    broker: PrivateBroker
    admin: BrokerAdmin
    bridge: Bridge
    client: TestClient
    owner: str  # alice's personal API token

    def handled(self, count: int) -> None:
        """Wait until the bridge has acknowledged `count` messages (enqueued or recorded by then)."""
        wait_for(
            lambda: self.bridge.metrics.value(self.bridge.metrics.acked) >= count, timeout=15, what=f"{count} acks"
        )

    def create(self, dataset_id: int, device_id: str):
        return self.client.post(
            "/api/devices/create", json={"deviceId": device_id, "datasetId": dataset_id}, headers=self.auth
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.owner}"}

    def peer(self, dataset_id: int, device_id: str, token: str) -> Peer:
        return Peer(self.broker.port, device_username(dataset_id, device_id), token)


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A dynsec broker bootstrapped by `ownstream mqtt bootstrap`, a bridge and the app with broker accounts on."""
    store = init_dynamic_security(tmp_path / "mosquitto", ADMIN, ADMIN_PASSWORD)
    broker = start_broker(tmp_path / "mosquitto", settings, dynsec=store)
    env = {
        "OWNSTREAM_MQTT_URL": broker.url,
        "OWNSTREAM_MQTT_DYNSEC": "true",
        "OWNSTREAM_MQTT_ADMIN_USERNAME": ADMIN,
        "OWNSTREAM_MQTT_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    dynsec = get_settings()
    booted = CliRunner().invoke(cli, ["mqtt", "bootstrap"])
    assert booted.exit_code == 0, booted.output
    bridge = Bridge(dynsec, client_id="dynsec-bridge")
    bridge.start()
    try:
        wait_for(bridge.subscribed.is_set, timeout=15, what="bridge subscribed")
        assert any(topic.endswith("/registered/#") for topic in bridge.subscriptions)
        with TestClient(create_app(dynsec)) as client:
            yield Stack(dynsec, broker, BrokerAdmin.from_settings(dynsec), bridge, client, make_token(settings))
    finally:
        bridge.stop()
        broker.stop()


def rows_of(stack: Stack, dataset, **params) -> list[dict]:
    response = stack.client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key, **params})
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def rejected(settings: Settings, dataset_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select device, reason from rejected_records where dataset_id = %s order by id", (dataset_id,)
        ).fetchall()


def sync(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["mqtt", "sync-accounts", "--json", *args])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output)


def test_a_device_registered_through_the_api_publishes_with_its_own_account(stack, settings):
    dataset = make_dataset(settings, variables=("temperature", "field1"), accept_new_variables=True)
    created = stack.create(dataset.id, "car-1")
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    other_token = stack.create(dataset.id, "car-2").json()["token"]
    root = f"registered/{dataset.id}/car-1"

    device = stack.peer(dataset.id, "car-1", token)
    assert device.accepted
    with open(f"{SAMPLES}/obd_bat.json", "rb") as sample:
        autopi = sample.read()
    for topic, payload in [
        (f"{root}/telemetry", orjson.dumps({"ts": 1767225600000, "values": {"temperature": 21.5}})),
        (f"{root}/publish", "field1=3&created_at=2026-01-01T00:00:01Z"),
        (f"{root}/influx", "weather temperature=22 1767225602000000000"),
        (f"{root}/autopi", autopi),
    ]:
        assert not device.publish(topic, payload).is_failure, topic

    # another device's account cannot speak for car-1, nor can its token open car-1's account, nor can anonymous
    other = stack.peer(dataset.id, "car-2", other_token)
    assert other.publish(f"{root}/telemetry", orjson.dumps({"temperature": -99})).is_failure
    assert not stack.peer(dataset.id, "car-1", other_token).accepted
    assert Peer(stack.broker.port).publish(f"{root}/telemetry", orjson.dumps({"temperature": -98})).is_failure
    assert not other.publish(
        f"registered/{dataset.id}/car-2/telemetry", orjson.dumps({"ts": 1767225603000, "values": {"temperature": 23}})
    ).is_failure
    stack.handled(5)
    drain(settings)

    rows = rows_of(stack, dataset, start="2026-01-01T00:00:00Z", end="2026-01-02T00:00:00Z")
    assert [(r["time"], r["variable"], r["value"], r.get("device")) for r in rows] == [
        ("2026-01-01T00:00:00Z", "temperature", 21.5, "car-1"),
        ("2026-01-01T00:00:01Z", "field1", 3, "car-1"),
        ("2026-01-01T00:00:02Z", "weather.temperature", 22, "car-1"),
        ("2026-01-01T00:00:03Z", "temperature", 23, "car-2"),
    ]
    autopi_rows = rows_of(stack, dataset, start="2021-02-24T09:03:09Z", end="2021-02-24T09:03:10Z")
    assert {(r["variable"], r["device"]) for r in autopi_rows} == {
        ("obd.bat.level", "car-1"),
        ("obd.bat.state", "car-1"),
        ("obd.bat.voltage", "car-1"),
    }
    assert rejected(settings, dataset.id) == []
    device.close()
    other.close()


def test_refresh_replaces_the_broker_password_and_delete_removes_the_account(stack, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    token = stack.create(dataset.id, "car-1").json()["token"]
    old = stack.peer(dataset.id, "car-1", token)
    assert old.accepted

    refreshed = stack.client.post("/api/devices/car-1/token", headers=stack.auth)
    assert refreshed.status_code == 200, refreshed.text
    new_token = refreshed.json()["token"]
    assert old.disconnected.wait(5)  # the session opened with the old password ends at once
    old.close()
    assert not stack.peer(dataset.id, "car-1", token).accepted
    fresh = stack.peer(dataset.id, "car-1", new_token)
    assert fresh.accepted
    payload = orjson.dumps({"ts": 1767225600000, "values": {"temperature": 7}})
    assert not fresh.publish(f"registered/{dataset.id}/car-1/telemetry", payload).is_failure
    stack.handled(1)
    drain(settings)
    assert [(r["value"], r["device"]) for r in rows_of(stack, dataset)] == [(7, "car-1")]

    assert stack.client.delete("/api/devices/car-1", headers=stack.auth).status_code == 204
    assert fresh.disconnected.wait(5)
    fresh.close()
    assert not stack.peer(dataset.id, "car-1", new_token).accepted
    assert device_accounts(stack.admin) == {}


def test_cli_create_refresh_delete_keep_the_broker_in_step(stack, settings):
    dataset = make_dataset(settings)
    runner = CliRunner()
    made = runner.invoke(cli, ["device", "create", "--dataset", str(dataset.id), "--device-id", "car-1", "--json"])
    assert made.exit_code == 0, made.output
    token = orjson.loads(made.output)["token"]
    assert stack.peer(dataset.id, "car-1", token).accepted
    again = runner.invoke(cli, ["device", "refresh", "--dataset", str(dataset.id), "--device-id", "car-1", "--json"])
    assert again.exit_code == 0, again.output
    new_token = orjson.loads(again.output)["token"]
    assert not stack.peer(dataset.id, "car-1", token).accepted
    assert stack.peer(dataset.id, "car-1", new_token).accepted
    gone = runner.invoke(cli, ["device", "delete", "--dataset", str(dataset.id), "--device-id", "car-1"])
    assert gone.exit_code == 0, gone.output
    assert not stack.peer(dataset.id, "car-1", new_token).accepted
    missing = runner.invoke(cli, ["device", "delete", "--dataset", str(dataset.id), "--device-id", "car-1"])
    assert missing.exit_code == 1 and "no device" in missing.output


def test_a_delete_the_broker_missed_is_refused_by_the_bridge_and_repaired_by_sync(stack, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    token = stack.create(dataset.id, "car-1").json()["token"]
    stack.broker.stop()
    assert stack.client.delete("/api/devices/car-1", headers=stack.auth).status_code == 204  # the DB change stands
    assert stack.client.get("/api/devices", headers=stack.auth).json() == []
    stack.broker.start()
    wait_for(stack.bridge.subscribed.is_set, timeout=30, what="bridge subscribed again")

    lingering = stack.peer(dataset.id, "car-1", token)
    assert lingering.accepted  # the broker never heard of the delete
    payload = orjson.dumps({"ts": 1767225600000, "values": {"temperature": 1}})
    assert not lingering.publish(f"registered/{dataset.id}/car-1/telemetry", payload).is_failure
    stack.handled(1)
    drain(settings)
    assert rows_of(stack, dataset) == []  # the bridge asks the registry, not only the broker
    [(device, reason)] = rejected(settings, dataset.id)
    assert device == "car-1" and "not registered" in reason
    lingering.close()

    assert sync() == {"removed": [device_username(dataset.id, "car-1")], "stale": [], "missing": []}
    assert not stack.peer(dataset.id, "car-1", token).accepted
    assert sync() == {"removed": [], "stale": [], "missing": []}


def test_sync_removes_stale_and_unknown_accounts_and_names_devices_without_one(stack, settings):
    dataset = make_dataset(settings)
    kept_token = stack.create(dataset.id, "car-1").json()["token"]
    stack.create(dataset.id, "car-2")
    provision_device(stack.admin, dataset.id, "car-2", "a-token-nobody-holds")  # a refresh whose commit failed
    provision_device(stack.admin, dataset.id, "ghost", "ghost-token")  # a create whose commit failed
    make_device(settings, dataset.id, "car-3")  # registered while broker accounts were off

    users = {name: device_username(dataset.id, name) for name in ("car-1", "car-2", "car-3", "ghost")}
    assert sync() == {
        "removed": [users["ghost"]],
        "stale": [users["car-2"]],
        "missing": [users["car-2"], users["car-3"]],
    }
    assert not stack.peer(dataset.id, "car-2", "a-token-nobody-holds").accepted
    assert not stack.peer(dataset.id, "ghost", "ghost-token").accepted
    assert stack.peer(dataset.id, "car-1", kept_token).accepted  # an account of the current token is kept
    car3 = stack.client.post("/api/devices/car-3/token", headers=stack.auth).json()["token"]  # how to fix "missing"
    assert stack.peer(dataset.id, "car-3", car3).accepted
    assert sync() == {"removed": [], "stale": [], "missing": [users["car-2"]]}


def test_with_the_broker_away_create_and_refresh_answer_503_and_change_nothing(stack, settings):
    dataset = make_dataset(settings)
    token = stack.create(dataset.id, "car-1").json()["token"]
    listed = stack.client.get("/api/devices", headers=stack.auth).json()
    stack.broker.stop()
    created = stack.create(dataset.id, "car-2")
    assert created.status_code == 503 and created.json()["error"] == "broker_unavailable", created.text
    refreshed = stack.client.post("/api/devices/car-1/token", headers=stack.auth)
    assert refreshed.status_code == 503 and "nothing was changed" in refreshed.json()["detail"]
    assert stack.client.get("/api/devices", headers=stack.auth).json() == listed
    cli_create = CliRunner().invoke(cli, ["device", "create", "--dataset", str(dataset.id), "--device-id", "car-3"])
    assert cli_create.exit_code == 1 and "broker" in cli_create.output
    stack.broker.start()
    assert stack.peer(dataset.id, "car-1", token).accepted  # the old token is still the device's password
    assert stack.client.get("/api/devices", headers=stack.auth).json() == listed
    assert set(device_accounts(stack.admin)) == {(dataset.id, "car-1")}


def test_bad_input_and_wrong_keys_make_no_account(stack, settings):
    dataset = make_dataset(settings)
    bobs = make_dataset(settings, owner="bob")
    assert stack.create(dataset.id, "a b").status_code == 400
    assert stack.create(bobs.id, "car-1").status_code == 404  # another user's dataset looks missing
    assert (
        stack.client.post("/api/devices/create", json={"deviceId": "car-1", "datasetId": dataset.id}).status_code == 401
    )
    assert (
        stack.client.post(
            "/api/devices/create",
            json={"deviceId": "car-1", "datasetId": dataset.id},
            headers={"Authorization": "Bearer wrong"},
        ).status_code
        == 401
    )
    assert stack.client.post("/api/devices/car-1/token", headers=stack.auth).status_code == 404
    assert device_accounts(stack.admin) == {}


def test_deleting_a_dataset_in_the_dashboard_removes_its_devices_accounts(stack, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    token = stack.create(dataset.id, "car-1").json()["token"]
    assert stack.peer(dataset.id, "car-1", token).accepted
    assert device_accounts(stack.admin)
    form_login(stack.client)
    assert post_form(stack.client, f"/dashboard/datasets/{dataset.id}/delete").status_code in (302, 303)
    assert device_accounts(stack.admin) == {}
    assert not stack.peer(dataset.id, "car-1", token).accepted
