"""Personal API tokens: made with a session, shown once, accepted as Bearer instead of the cookie, revocable."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from services.cli.main import app as cli
from tests.support.factories import PASSWORD, make_dataset, make_token


def login(client, username="alice"):
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_create_list_use_and_revoke_a_token(client, settings):
    dataset = make_dataset(settings)
    login(client)
    made = client.post("/api/v1/tokens", json={"name": "notebook"})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert len(token) >= 32 and made.json()["name"] == "notebook"

    listed = client.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["notebook"] and token not in str(listed)
    assert listed[0]["last_used_at"] is None

    client.post("/api/v1/auth/logout")
    assert client.get("/api/v1/datasets").status_code == 401
    mine = client.get("/api/v1/datasets", headers=bearer(token))
    assert mine.status_code == 200 and [d["id"] for d in mine.json()] == [dataset.id]
    assert client.get(f"/api/v1/datasets/{dataset.id}/data", headers=bearer(token)).status_code == 200

    login(client)
    assert client.get("/api/v1/tokens").json()[0]["last_used_at"] is not None
    assert client.delete(f"/api/v1/tokens/{made.json()['id']}").status_code == 204
    assert client.get("/api/v1/tokens").json() == []
    client.post("/api/v1/auth/logout")
    assert client.get("/api/v1/datasets", headers=bearer(token)).status_code == 401


def test_a_token_cannot_mint_list_or_revoke_tokens_and_only_its_owner_revokes(client, settings):
    token = make_token(settings, "alice")
    assert client.post("/api/v1/tokens", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/tokens", headers=bearer(token)).status_code == 401
    make_token(settings, "bob")
    login(client, "bob")
    assert client.get("/api/v1/tokens").json()[0]["id"] == 2
    assert client.delete("/api/v1/tokens/1").status_code == 404  # alice's
    client.post("/api/v1/auth/logout")
    assert client.get("/api/v1/datasets", headers=bearer(token)).status_code == 200


def test_bad_input_and_wrong_tokens(client, settings):
    make_dataset(settings)
    login(client)
    assert client.post("/api/v1/tokens", json={"name": "x" * 101}).status_code == 400
    assert client.post("/api/v1/tokens", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.delete("/api/v1/tokens/abc").status_code == 400
    assert client.delete("/api/v1/tokens/99").status_code == 404
    assert client.post("/api/v1/tokens").status_code == 201  # a name is optional
    client.post("/api/v1/auth/logout")
    for header in ("Bearer " + "0" * 40, "Bearer", "Token " + make_token(settings), "garbage"):
        response = client.get("/api/v1/datasets", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"] == "unauthorized"


def test_cli_makes_a_token_for_scripts(client, settings):
    dataset = make_dataset(settings)
    result = CliRunner().invoke(cli, ["token", "create", "--user", "alice", "--name", "ci", "--json"])
    assert result.exit_code == 0, result.output
    made = orjson.loads(result.stdout)
    assert made["user"] == "alice" and made["name"] == "ci"
    assert client.get("/api/v1/datasets", headers=bearer(made["token"])).json()[0]["id"] == dataset.id
    missing = CliRunner().invoke(cli, ["token", "create", "--user", "nobody", "--json"])
    assert missing.exit_code == 1
