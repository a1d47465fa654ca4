"""Who may read and manage a dataset: read key, owner session, public flag; never another user."""

from __future__ import annotations

import pytest

from tests.support.factories import PASSWORD, make_dataset, make_user
from tests.support.worker import drain

READ_PATHS = ["/api/v1/datasets/{id}/data", "/datasets/{id}", "/api/v1/datasets/{id}"]


@pytest.fixture
def private(client, settings):
    dataset = make_dataset(settings, owner="alice")
    make_user(settings, "mallory")
    response = client.post(
        f"/api/v1/datasets/{dataset.id}/readings",
        headers={"X-Write-Key": dataset.write_key},
        json={"readings": [{"time": "2026-01-01T00:00:00Z", "values": {"temperature": 7.5}}]},
    )
    assert response.status_code == 202
    drain(settings)
    return dataset


def login(client, username: str, password: str = PASSWORD):
    client.cookies.clear()
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def read(client, path: str, dataset, **params):
    return client.get(path.format(id=dataset.id), params=params)


def assert_denied(response, status: int = 404) -> None:
    """Refused exactly as a missing dataset would be: a private dataset's existence is not told."""
    assert response.status_code == status, response.text
    assert "7.5" not in response.text and set(response.json()) == {"error", "detail"}
    if status == 404:
        dataset_id = next(part for part in response.url.path.split("/") if part.isdigit())
        assert response.json() == {"error": "not_found", "detail": f"no dataset {dataset_id}"}


@pytest.mark.parametrize("path", READ_PATHS)
def test_private_dataset_needs_its_read_key(client, private, path):
    assert_denied(read(client, path, private))
    assert_denied(read(client, path, private, key="0" * 40))
    assert_denied(read(client, path, private, key=private.write_key))  # the write key does not read
    assert read(client, path, private, key=private.read_key).status_code == 200
    assert read(client, path, private, api_key=private.read_key).status_code == 200
    response = client.get(path.format(id=private.id), headers={"X-Read-Key": private.read_key})
    assert response.status_code == 200


def test_read_key_returns_the_data(client, private):
    rows = read(client, READ_PATHS[0], private, key=private.read_key).json()["rows"]
    assert [row["value"] for row in rows] == [7.5]


def test_another_datasets_read_key_does_not_read(client, settings, private):
    other = make_dataset(settings, owner="mallory", name="Mine")
    for path in READ_PATHS:
        assert_denied(read(client, path, private, key=other.read_key))


def test_owner_session_reads_and_other_users_session_does_not(client, private):
    assert login(client, "alice").status_code == 200
    for path in READ_PATHS:
        assert read(client, path, private).status_code == 200
    assert read(client, READ_PATHS[0], private).json()["rows"][0]["value"] == 7.5

    assert login(client, "mallory").status_code == 200
    assert client.get("/api/v1/auth/me").json()["username"] == "mallory"
    for path in READ_PATHS:
        assert_denied(read(client, path, private))
    assert client.get("/api/v1/datasets").json() == []  # mallory's list does not show alice's dataset

    client.post("/api/v1/auth/logout")
    for path in READ_PATHS:
        assert_denied(read(client, path, private))


def test_public_dataset_needs_no_key(client, settings):
    dataset = make_dataset(settings, public=True)
    for path in READ_PATHS:
        assert read(client, path, dataset).status_code == 200


def test_missing_dataset_is_404(client, private):
    for path in READ_PATHS:
        response = client.get(path.format(id=private.id + 1000), params={"key": private.read_key})
        assert_denied(response)


def test_login_refuses_wrong_password_and_bad_bodies(client, private):
    assert login(client, "alice", "wrong password").status_code == 401
    assert login(client, "nobody").status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401
    response = client.post("/api/v1/auth/login", json={"username": "alice"})
    assert response.status_code == 400 and "password" in response.json()["detail"]
    assert (
        client.post("/api/v1/auth/login", content=b"not json", headers={"Content-Type": "application/json"}).status_code
        == 400
    )


MANAGE = [
    ("post", "/api/v1/datasets/{id}/keys/write/regenerate", None),
    ("post", "/api/v1/datasets/{id}/keys/read/regenerate", None),
    ("post", "/api/v1/datasets/{id}/variables", {"tag": "pressure"}),
]


@pytest.mark.parametrize(("method", "path", "body"), MANAGE)
def test_management_by_another_user_is_404_and_changes_nothing(client, private, method, path, body):
    assert login(client, "mallory").status_code == 200
    response = client.request(method, path.format(id=private.id), json=body)
    missing = client.request(method, path.format(id=private.id + 1000), json=body)
    assert response.status_code == 404, response.text
    assert response.json() == {**missing.json(), "detail": f"no dataset {private.id}"}
    client.cookies.clear()
    response = client.request(method, path.format(id=private.id), json=body)
    assert response.status_code == 401, response.text
    # nothing changed: the old keys still work and no variable was added
    assert read(client, READ_PATHS[0], private, key=private.read_key).status_code == 200
    pushed = client.get("/update", params={"key": private.write_key, "temperature": "1"})
    assert pushed.status_code == 200
    assert "pressure" not in read(client, READ_PATHS[2], private, key=private.read_key).text


def test_owner_manages_the_dataset(client, private):
    assert login(client, "alice").status_code == 200
    response = client.post(f"/api/v1/datasets/{private.id}/keys/read/regenerate")
    assert response.status_code == 200
    new_key = response.json()["key"]
    client.cookies.clear()
    assert_denied(read(client, READ_PATHS[0], private, key=private.read_key))
    assert read(client, READ_PATHS[0], private, key=new_key).status_code == 200
    assert login(client, "alice").status_code == 200
    assert client.post(f"/api/v1/datasets/{private.id}/variables", json={"tag": "pressure"}).status_code == 201
    assert client.post(f"/api/v1/datasets/{private.id}/variables", json={"tag": "pressure"}).status_code == 409
    assert client.post(f"/api/v1/datasets/{private.id}/variables", json={"tag": "bad tag!"}).status_code == 400
    assert client.post(f"/api/v1/datasets/{private.id}/keys/blue/regenerate").status_code == 400


def test_dataset_creation_through_the_api(client, private):
    assert client.post("/api/v1/datasets", json={"name": "X"}).status_code == 401
    assert login(client, "mallory").status_code == 200
    assert client.post("/api/v1/datasets", json={"name": ""}).status_code == 400
    assert (
        client.post("/api/v1/datasets", json={"name": "X", "variables": [{"tag": "a"}, {"tag": "a"}]}).status_code
        == 400
    )
    response = client.post("/api/v1/datasets", json={"name": "Mine", "variables": [{"tag": "a"}]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["read_key"] and created["write_key"]
    assert [d["id"] for d in client.get("/api/v1/datasets").json()] == [created["id"]]
