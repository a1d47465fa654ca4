"""Existence is private: what another caller may not read answers exactly as what does not exist."""

from __future__ import annotations

from tests.support.factories import PASSWORD, make_dataset, make_device, make_token

MISSING = 999_999


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def same_as_missing(client, path: str, dataset_id: int, method: str = "get", **kwargs) -> None:
    """`path` on the hidden dataset answers like it on a missing one: same status, same body (modulo the id)."""
    hidden = client.request(method, path.format(id=dataset_id), **kwargs)
    missing = client.request(method, path.format(id=MISSING), **kwargs)
    assert hidden.status_code == missing.status_code == 404, (path, hidden.text)
    assert hidden.text == missing.text.replace(str(MISSING), str(dataset_id))
    assert hidden.headers.get("content-type") == missing.headers.get("content-type")


def test_another_users_private_dataset_looks_missing_to_every_credential(client, settings):
    alice = make_dataset(settings, owner="alice", name="Hidden")
    bob = make_dataset(settings, owner="bob", name="Bobs")
    bob_token = make_token(settings, "bob")
    bob_device = make_device(settings, bob.id, "van")
    credentials = [
        {},
        {"params": {"key": "0" * 40}},
        {"params": {"key": alice.write_key}},
        {"params": {"key": bob.read_key}},
        {"headers": bearer(bob_device)},
        {"headers": bearer(bob_token)},
    ]
    paths = [
        "/api/v1/datasets/{id}",
        "/api/v1/datasets/{id}/data",
        "/datasets/{id}",
        "/api/v1/datasets/{id}/chart",
        "/api/v1/datasets/{id}/rejected",
        "/api/v1/datasets/{id}/events",
        "/channels/{id}/feeds.json",
        "/channels/{id}.json",
        "/channels/{id}/fields/1/last",
    ]
    for path in paths:
        for credential in credentials:
            same_as_missing(client, path, alice.id, **credential)
    for path in ("/api/v1/datasets/{id}/keys/read/regenerate", "/api/v1/datasets/{id}/variables"):
        same_as_missing(client, path, alice.id, "post", json={"tag": "x"}, headers=bearer(bob_token))
    listed = client.get(f"/api/devices?datasetId={alice.id}", headers=bearer(bob_token))
    assert listed.status_code == 200 and listed.json() == []  # as for a missing dataset: none of bob's


def test_devices_and_tokens_of_others_look_missing(client, settings):
    alice = make_dataset(settings, owner="alice")
    make_device(settings, alice.id, "car1")
    bob = make_dataset(settings, owner="bob")
    bob_token = make_token(settings, "bob")
    van = make_device(settings, bob.id, "van")
    alice_token = make_token(settings, "alice")
    for who in (bob_token, van):
        for path in ("/api/devices/car1", "/api/devices/car1/measurements"):
            hidden = client.get(path, headers=bearer(who))
            missing = client.get(path.replace("car1", "nosuch"), headers=bearer(who))
            if path.endswith("car1") and who == van:
                assert hidden.status_code == missing.status_code == 401  # device tokens do not manage
                continue
            assert hidden.status_code == missing.status_code == 404, (path, hidden.text)
            assert hidden.text == missing.text.replace("nosuch", "car1")
    # another user's personal token answers as a missing one, and stays valid
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    (alice_token_id,) = [row["id"] for row in client.get("/api/v1/tokens").json()]
    assert client.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}).status_code == 200
    hidden = client.delete(f"/api/v1/tokens/{alice_token_id}")
    missing = client.delete(f"/api/v1/tokens/{MISSING}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text.replace(str(MISSING), str(alice_token_id))
    client.cookies.clear()
    assert client.get("/api/v1/datasets", headers=bearer(alice_token)).status_code == 200


def test_a_stranger_on_the_dashboard_goes_to_login_whether_or_not_the_dataset_exists(client, settings):
    alice = make_dataset(settings, owner="alice")
    for dataset_id in (alice.id, MISSING):
        response = client.get(f"/dashboard/datasets/{dataset_id}", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=/dashboard/datasets/{dataset_id}"
