"""Changes on a session cookie's authority are refused when a browser says they come from another origin."""

from __future__ import annotations

from tests.support.factories import PASSWORD, make_dataset, make_token


def test_cookie_changes_from_another_origin_are_refused(client, settings):
    dataset = make_dataset(settings)
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    path = f"/api/v1/datasets/{dataset.id}/keys/write/regenerate"
    refused = client.post(path, headers={"Origin": "http://testserver:3000"})
    assert refused.status_code == 403
    assert client.get("/update", params={"key": dataset.write_key, "temperature": "1"}).status_code == 200
    assert client.post(path, headers={"Origin": "http://testserver"}).status_code == 200  # same origin
    assert client.post(path).status_code == 200  # no Origin: not a browser


def test_personal_tokens_are_not_ambient_so_origin_does_not_matter(client, settings):
    dataset = make_dataset(settings)
    headers = {"Authorization": f"Bearer {make_token(settings)}", "Origin": "http://elsewhere.example"}
    assert client.post(f"/api/v1/datasets/{dataset.id}/keys/read/regenerate", headers=headers).status_code == 200
