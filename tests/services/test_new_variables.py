"""One rule for new variables, whatever the protocol or credential: the dataset's `accept_new_variables`."""

from __future__ import annotations

import orjson
import pytest

from services.ingest.credentials import Credential
from services.ingest.formats import FORMATS, Limits
from shared.config import Settings
from shared.errors import BadRequest
from tests.support.factories import make_dataset, make_device, make_token
from tests.support.http import wait_for
from tests.support.worker import drain

CREDENTIALS = ["write key", "device token"]


def credential(settings, dataset, kind: str) -> str:
    return dataset.write_key if kind == "write key" else make_device(settings, dataset.id, "car-1")


def writes(client, dataset, token):
    """One new variable by each HTTP protocol, all sent with `token`; their answers' status codes (and details)."""
    answers = {
        "json": client.post(
            f"/api/v1/datasets/{dataset.id}/readings",
            headers={"X-Write-Key": token},
            content=orjson.dumps({"readings": [{"values": {"door": "open"}}]}),
        ),
        "thingspeak": client.get("/update", params={"api_key": token, "wind": "3"}),
        "thingspeak bulk": client.post(
            f"/channels/{dataset.id}/bulk_update.json",
            json={"write_api_key": token, "updates": [{"delta_t": 0, "gust": "7"}]},
        ),
        "line protocol": client.post(
            "/api/v2/write",
            params={"bucket": dataset.id},
            headers={"Authorization": f"Token {token}"},
            content="weather rain=1",
        ),
        "autopi": client.post(
            "/autopi",
            headers={"Authorization": f"Bearer {token}"},
            content=b'[{"@t": "obd.bat", "@ts": "2026-03-01T12:00:00Z", "voltage": 12.5}]',
        ),
    }
    return {
        name: (r.status_code, (r.json().get("detail") or r.json().get("message")) if r.status_code >= 400 else "")
        for name, r in answers.items()
    }


def variables(client, dataset) -> dict[str, bool]:
    described = client.get(f"/api/v1/datasets/{dataset.id}", params={"key": dataset.read_key}).json()
    return {v["tag"]: v["declared"] for v in described["variables"]}


@pytest.mark.parametrize("kind", CREDENTIALS)
def test_a_dataset_that_declared_its_variables_refuses_new_ones_by_every_protocol_until_turned_on(
    client, settings, kind
):
    dataset = make_dataset(settings, variables=("temperature",))
    token = credential(settings, dataset, kind)
    refused = writes(client, dataset, token)
    assert refused["json"][0] == 400 and "'door'" in refused["json"][1]
    assert refused["thingspeak"][0] == 400 and "'wind'" in refused["thingspeak"][1]
    assert refused["thingspeak bulk"][0] == 400 and "'gust'" in refused["thingspeak bulk"][1]
    assert refused["line protocol"][0] == 400 and "'weather.rain'" in refused["line protocol"][1]
    assert refused["autopi"][0] == 200  # the dongle resends 4xx forever: the record is set aside instead
    drain(settings)
    kept = client.get(f"/api/v1/datasets/{dataset.id}/rejected", params={"key": dataset.read_key}).json()
    assert ["'obd.bat.voltage'" in r["reason"] for r in kept["records"]] == [True]
    assert variables(client, dataset) == {"temperature": True}

    owner = make_token(settings)
    changed = client.patch(
        f"/api/v1/datasets/{dataset.id}",
        json={"accept_new_variables": True},
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert changed.status_code == 200 and changed.json()["accept_new_variables"] is True
    wait_for(
        lambda: client.get("/update", params={"api_key": token, "wind": "3"}).status_code == 200,
        timeout=2,
        what="receivers see the change",
    )
    assert [code for code, _ in writes(client, dataset, token).values()] == [202, 200, 202, 204, 200]
    drain(settings)
    assert variables(client, dataset) == {
        "temperature": True,
        "door": False,
        "wind": False,
        "gust": False,
        "weather.rain": False,
        "obd.bat.voltage": False,
    }


@pytest.mark.parametrize("kind", CREDENTIALS)
def test_a_dataset_made_without_variables_accepts_new_ones(client, settings, kind):
    dataset = make_dataset(settings, variables=())
    answers = writes(client, dataset, credential(settings, dataset, kind))
    assert [code for code, _ in answers.values()] == [202, 200, 202, 204, 200]
    drain(settings)
    assert set(variables(client, dataset)) == {"door", "wind", "gust", "weather.rain", "obd.bat.voltage"}


def test_mqtt_telemetry_follows_the_same_rule():
    accept, limits = FORMATS["telemetry"].accept, Limits.of(Settings())
    closed = Credential(3, "device", "car-1", ("temperature",))
    with pytest.raises(BadRequest, match="'humidity'"):
        accept(closed, b'{"humidity": 40}', limits, source="mqtt")
    open_ = Credential(3, "device", "car-1", ("temperature",), accepts_new=True)
    assert accept(open_, b'{"humidity": 40}', limits, source="mqtt")["format"] == "telemetry"


def test_changing_the_rule_refuses_bad_input_and_strangers(client, settings):
    dataset = make_dataset(settings, variables=("temperature",))
    owner = {"Authorization": f"Bearer {make_token(settings)}"}
    url = f"/api/v1/datasets/{dataset.id}"
    for body in ({}, {"accept_new_variables": "maybe"}, {"accept_new_variables": True, "colour": "red"}, {"name": ""}):
        response = client.patch(url, json=body, headers=owner)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == "bad_request"
    assert client.patch(url, json={"accept_new_variables": True}).status_code == 401
    assert (
        client.patch(url, json={"accept_new_variables": True}, headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    bob = {"Authorization": f"Bearer {make_token(settings, 'bob')}"}
    assert client.patch(url, json={"accept_new_variables": True}, headers=bob).status_code == 404  # looks missing
    assert client.patch("/api/v1/datasets/999999", json={"public": True}, headers=owner).status_code == 404
    assert client.get(url, params={"key": dataset.read_key}).json()["accept_new_variables"] is False  # unchanged
