"""Server-side session revocation: a copied session cookie dies with logout, a password change or the user."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.dashboard import form_login, post_form
from tests.support.factories import PASSWORD, make_dataset, make_user
from tests.support.processes import run_cli

NEW_PASSWORD = "a much longer new password"


@pytest.fixture
def thief(client: TestClient) -> TestClient:
    """A second browser on the same app, for replaying a copied cookie."""
    return TestClient(client.app)


def copy_cookie(source: TestClient, target: TestClient) -> str:
    cookie = source.cookies["ownstream_session"]
    target.cookies.set("ownstream_session", cookie)
    return cookie


def logged_in(client: TestClient) -> bool:
    return client.get("/api/v1/auth/me").status_code == 200


def test_api_logout_ends_every_copy_of_the_session(client, thief, settings):
    make_user(settings, "alice")
    assert client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    copy_cookie(client, thief)
    assert logged_in(thief)  # the copy works while the session lives

    assert client.post("/api/v1/auth/logout").json() == {"logged_out": True}
    assert not logged_in(client) and not logged_in(thief)
    assert thief.get("/dashboard", follow_redirects=False).status_code == 303  # pages send it to login


def test_dashboard_logout_ends_a_copied_cookie_replayed_verbatim(client, thief, settings):
    dataset = make_dataset(settings, owner="alice", name="Secret")
    assert form_login(client, "alice").status_code == 303
    stolen = copy_cookie(client, thief)
    assert thief.get(f"/api/v1/datasets/{dataset.id}").status_code == 200

    assert post_form(client, "/logout").status_code == 303
    replay = TestClient(client.app, cookies={"ownstream_session": stolen})
    assert not logged_in(replay)
    assert replay.get(f"/api/v1/datasets/{dataset.id}").status_code == 404
    # logging in again issues a new, working session; the old cookie stays dead
    assert form_login(client, "alice").status_code == 303 and logged_in(client)
    assert not logged_in(TestClient(client.app, cookies={"ownstream_session": stolen}))


def test_password_change_ends_other_copies_but_keeps_this_browser(client, thief, settings):
    make_user(settings, "alice")
    assert form_login(client, "alice").status_code == 303
    copy_cookie(client, thief)
    changed = post_form(
        client, "/settings/password", {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert changed.status_code == 303
    assert not logged_in(thief)
    assert logged_in(client)  # the browser that changed it got a session of the new epoch


def test_deleting_the_user_ends_their_sessions(client, thief, settings):
    make_dataset(settings, owner="alice", name="Gone")
    make_user(settings, "bob")
    assert form_login(client, "alice").status_code == 303
    copy_cookie(client, thief)
    bob = TestClient(client.app)
    assert form_login(bob, "bob").status_code == 303

    deleted = run_cli("user", "delete", "alice", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert not logged_in(client) and not logged_in(thief)
    assert logged_in(bob)  # other users' sessions are untouched
    assert run_cli("user", "delete", "alice", "--yes").returncode == 1  # gone: a clear error, nothing else


def test_a_session_of_one_user_cannot_be_moved_to_another(client, settings):
    """The cookie is signed: editing the user id in it makes it worthless."""
    make_user(settings, "alice")
    make_user(settings, "bob")
    assert form_login(client, "alice").status_code == 303
    cookie = client.cookies["ownstream_session"]
    forged = cookie[:-2] + ("aa" if cookie[-2:] != "aa" else "bb")
    assert not logged_in(TestClient(client.app, cookies={"ownstream_session": forged}))
