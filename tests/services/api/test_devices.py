"""The device registry: create (token once), list without tokens, refresh, revoke, a device's own data."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from services.cli.main import app as cli
from tests.support.factories import PASSWORD, make_dataset, make_device, make_token
from tests.support.http import wait_for
from tests.support.worker import drain

OBD = [{"@t": "obd.bat", "@ts": "2026-01-01T00:00:00Z", "voltage": 12.5, "state": "ok"}]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, records=OBD):
    return client.post("/autopi", content=orjson.dumps(records), headers=auth(token))


def create(client, owner_token, device_id, dataset_id):
    return client.post(
        "/api/devices/create", json={"deviceId": device_id, "datasetId": dataset_id}, headers=auth(owner_token)
    )


def test_create_list_get_never_show_tokens(client, settings):
    dataset = make_dataset(settings)
    owner = make_token(settings)
    made = create(client, owner, "car1", dataset.id)
    assert made.status_code == 201, made.text
    body = made.json()
    token = body.pop("token")
    assert len(token) >= 32
    assert body["deviceId"] == "car1" and body["datasetId"] == dataset.id and body["lastSeenAt"] is None
    assert set(body) == {
        "device_id",
        "dataset_id",
        "created_at",
        "updated_at",
        "last_seen_at",  # the API's names
        "deviceId",
        "datasetId",
        "createdAt",
        "updatedAt",
        "lastSeenAt",
    }  # kept as aliases
    assert (body["device_id"], body["dataset_id"], body["created_at"]) == (
        body["deviceId"],
        body["datasetId"],
        body["createdAt"],
    )

    listed = client.get("/api/devices", headers=auth(owner))
    assert listed.status_code == 200 and listed.json() == [body]
    one = client.get("/api/devices/car1", headers=auth(owner))
    assert one.json() == body
    assert token not in listed.text + one.text

    assert upload(client, token).status_code == 200
    drain(settings)
    assert client.get("/api/devices/car1", headers=auth(owner)).json()["lastSeenAt"] is not None


def test_create_refuses_duplicates_bad_input_and_other_peoples_datasets(client, settings):
    dataset = make_dataset(settings)
    bobs = make_dataset(settings, owner="bob")
    owner = make_token(settings)
    assert create(client, owner, "car1", dataset.id).status_code == 201
    duplicate = create(client, owner, "car1", dataset.id)
    assert duplicate.status_code == 409 and "car1" in duplicate.json()["detail"]
    assert create(client, owner, "car1", bobs.id).json() == create(client, owner, "car1", 999).json() | {
        "detail": f"no dataset {bobs.id}"
    }  # bob's private dataset answers as a missing one
    assert create(client, owner, "car1", 999).status_code == 404
    for bad in (
        {"deviceId": "a b", "datasetId": dataset.id},
        {"deviceId": "", "datasetId": dataset.id},
        {"deviceId": "x/y", "datasetId": dataset.id},
        {"deviceId": "car2"},
        {"datasetId": dataset.id},
        {"deviceId": "car2", "datasetId": "first"},
        [1],
    ):
        response = client.post("/api/devices/create", json=bad, headers=auth(owner))
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error"] == "bad_request"
    assert client.post("/api/devices/create", json={"deviceId": "c", "datasetId": dataset.id}).status_code == 401
    # nothing of the refused attempts was stored, and bob sees none of alice's devices
    assert [d["deviceId"] for d in client.get("/api/devices", headers=auth(owner)).json()] == ["car1"]
    assert client.get("/api/devices", headers=auth(make_token(settings, "bob"))).json() == []
    assert client.get("/api/devices/car1", headers=auth(make_token(settings, "bob"))).status_code == 404


def test_a_session_works_like_a_personal_token(client, settings):
    dataset = make_dataset(settings)
    client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    made = client.post("/api/devices/create", json={"deviceId": "car1", "datasetId": dataset.id})
    assert made.status_code == 201
    assert [d["deviceId"] for d in client.get("/api/devices").json()] == ["car1"]


def test_same_id_in_two_datasets_needs_dataset_id(client, settings):
    first, second = make_dataset(settings), make_dataset(settings, name="Second")
    owner = make_token(settings)
    create(client, owner, "car1", first.id)
    create(client, owner, "car1", second.id)
    ambiguous = client.get("/api/devices/car1", headers=auth(owner))
    assert ambiguous.status_code == 409 and "?dataset_id=" in ambiguous.json()["detail"]
    chosen = client.get("/api/devices/car1", params={"datasetId": second.id}, headers=auth(owner))
    assert chosen.status_code == 200 and chosen.json()["datasetId"] == second.id
    assert client.get("/api/devices/car1", params={"datasetId": "x"}, headers=auth(owner)).status_code == 400
    assert len(client.get("/api/devices", headers=auth(owner)).json()) == 2


def test_refresh_replaces_the_token(client, settings):
    dataset = make_dataset(settings)
    owner = make_token(settings)
    old = create(client, owner, "car1", dataset.id).json()["token"]
    assert upload(client, old).status_code == 200  # now cached by this receiver
    refreshed = client.post("/api/devices/car1/token", headers=auth(owner))
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()["token"]
    assert new != old
    assert upload(client, new).status_code == 200
    wait_for(lambda: upload(client, old).status_code == 401, timeout=1.0, what="old token refused")
    assert client.post("/api/devices/nope/token", headers=auth(owner)).status_code == 404
    assert client.post("/api/devices/car1/token").status_code == 401
    assert client.post("/api/devices/car1/token", headers=auth(make_token(settings, "bob"))).status_code == 404


def test_revoke_refuses_the_token_and_frees_the_id(client, settings):
    dataset = make_dataset(settings)
    owner = make_token(settings)
    token = create(client, owner, "car1", dataset.id).json()["token"]
    assert upload(client, token).status_code == 200
    assert client.delete("/api/devices/car1", headers=auth(make_token(settings, "bob"))).status_code == 404
    assert client.delete("/api/devices/car1", headers=auth(owner)).status_code == 204
    wait_for(lambda: upload(client, token).status_code == 401, timeout=1.0, what="revoked token refused")
    assert client.get("/api/devices", headers=auth(owner)).json() == []
    assert client.get("/api/devices/car1", headers=auth(owner)).status_code == 404
    assert client.delete("/api/devices/car1", headers=auth(owner)).status_code == 404
    again = create(client, owner, "car1", dataset.id)
    assert again.status_code == 201 and again.json()["token"] != token
    assert upload(client, again.json()["token"]).status_code == 200


def test_measurements_for_the_owner_and_the_device_itself(client, settings):
    dataset = make_dataset(settings, accept_new_variables=True)
    owner = make_token(settings)
    car = create(client, owner, "car1", dataset.id).json()["token"]
    van = create(client, owner, "van", dataset.id).json()["token"]
    upload(client, car)
    upload(client, van, [{"@t": "obd.bat", "@ts": "2026-01-01T00:00:00Z", "voltage": 24.0}])
    drain(settings)
    for who in (owner, car):
        response = client.get("/api/devices/car1/measurements", headers=auth(who))
        assert response.status_code == 200, response.text
        assert [(r["variable"], r["value"]) for r in response.json()["rows"]] == [
            ("obd.bat.state", "ok"),
            ("obd.bat.voltage", 12.5),
        ]
    only = client.get("/api/devices/car1/measurements", params={"vars": "obd.bat.voltage"}, headers=auth(car))
    assert [r["value"] for r in only.json()["rows"]] == [12.5]
    late = client.get("/api/devices/car1/measurements", params={"start": "2026-01-02T00:00:00Z"}, headers=auth(car))
    assert late.json()["rows"] == []
    assert client.get("/api/devices/car1/measurements", headers=auth(van)).status_code == 404
    assert client.get("/api/devices/car1/measurements", headers=auth("0" * 40)).status_code == 401
    assert client.get("/api/devices/car1/measurements").status_code == 401
    bad = client.get("/api/devices/car1/measurements", params={"start": "tuesday"}, headers=auth(car))
    assert bad.status_code == 400
    reversed_range = {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    assert client.get("/api/devices/car1/measurements", params=reversed_range, headers=auth(car)).status_code == 400


def test_a_device_token_reads_and_writes_its_own_dataset_only(client, settings):
    mine = make_dataset(settings, variables=("temperature",))
    other = make_dataset(settings, owner="bob", variables=("temperature",))
    token = make_device(settings, mine.id, "car1")
    assert client.get(f"/api/v1/datasets/{mine.id}/data", headers=auth(token)).status_code == 200
    assert client.get(f"/api/v1/datasets/{mine.id}/data", params={"key": token}).status_code == 200
    assert client.get(f"/api/v1/datasets/{other.id}/data", headers=auth(token)).status_code == 404
    assert client.get(f"/api/v1/datasets/{other.id}/data", params={"key": token}).status_code == 404
    assert client.get(f"/api/v1/datasets/{other.id}", headers=auth(token)).status_code == 404
    native = {"readings": [{"time": "2026-01-01T00:00:00Z", "values": {"temperature": 1}}]}
    assert (
        client.post(f"/api/v1/datasets/{other.id}/readings", json=native, headers={"X-Write-Key": token}).status_code
        == 401
    )
    assert (
        client.post(f"/api/v1/datasets/{mine.id}/readings", json=native, headers={"X-Write-Key": token}).status_code
        == 202
    )
    # a device token is not a user: it manages nothing
    assert client.get("/api/devices", headers=auth(token)).status_code == 401
    assert (
        client.post(
            "/api/devices/create", json={"deviceId": "x", "datasetId": mine.id}, headers=auth(token)
        ).status_code
        == 401
    )
    drain(settings)
    rows = client.get(f"/api/v1/datasets/{mine.id}/data", headers=auth(token)).json()["rows"]
    assert rows == [{"time": "2026-01-01T00:00:00Z", "variable": "temperature", "value": 1, "device": "car1"}]
    assert client.get(f"/api/v1/datasets/{other.id}/data", params={"key": other.read_key}).json()["rows"] == []


def test_cli_creates_and_lists_devices(client, settings):
    dataset = make_dataset(settings)
    runner = CliRunner()
    made = runner.invoke(cli, ["device", "create", "--dataset", str(dataset.id), "--device-id", "car1", "--json"])
    assert made.exit_code == 0, made.output
    device = orjson.loads(made.stdout)
    assert device["deviceId"] == "car1" and device["datasetId"] == dataset.id
    assert upload(client, device["token"]).status_code == 200
    listed = runner.invoke(cli, ["device", "list", "--json"])
    assert listed.exit_code == 0
    assert [(d["deviceId"], d["datasetId"]) for d in orjson.loads(listed.stdout)] == [("car1", dataset.id)]
    assert device["token"] not in listed.stdout
    again = runner.invoke(cli, ["device", "create", "--dataset", str(dataset.id), "--device-id", "car1", "--json"])
    assert again.exit_code == 1
    missing = runner.invoke(cli, ["device", "create", "--dataset", "999", "--device-id", "car2", "--json"])
    assert missing.exit_code == 1


def test_snake_case_names_work_as_the_camel_case_ones(client, settings):
    dataset = make_dataset(settings)
    owner = make_token(settings)
    made = client.post("/api/devices/create", json={"device_id": "car7", "dataset_id": dataset.id}, headers=auth(owner))
    assert made.status_code == 201 and made.json()["device_id"] == "car7"
    chosen = client.get("/api/devices/car7", params={"dataset_id": dataset.id}, headers=auth(owner))
    assert chosen.status_code == 200 and chosen.json()["dataset_id"] == dataset.id
    assert client.get("/api/devices/car7", params={"dataset_id": dataset.id + 1}, headers=auth(owner)).status_code in (
        403,
        404,
    )
