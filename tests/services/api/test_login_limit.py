"""Failed logins are limited per user name: past the limit even the right password waits (429)."""

from __future__ import annotations

from services.api.login_limit import LIMIT
from tests.support.dashboard import csrf_from
from tests.support.factories import PASSWORD, make_user


def test_api_login_is_refused_after_too_many_failures(client, settings):
    make_user(settings)
    for _ in range(LIMIT):
        assert client.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"}).status_code == 401
    blocked = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_a_success_before_the_limit_clears_the_count(client, settings):
    make_user(settings)
    for _ in range(LIMIT - 1):
        client.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"})
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    for _ in range(LIMIT - 1):
        client.post("/api/v1/auth/login", json={"username": "Alice ", "password": "wrong"})
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_dashboard_login_shares_the_limit(client, settings):
    make_user(settings)
    for _ in range(LIMIT):
        client.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"})
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(client)},
        follow_redirects=False,
    )
    assert response.status_code == 429 and "too many failed logins" in response.text.lower()
