"""Dashboard accounts: first-user setup (once only), login/logout, CSRF on every form, password change."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared.db import make_engine, make_session_factory, transaction
from shared.models import User
from tests.support.dashboard import csrf_from, form_login, post_form
from tests.support.factories import PASSWORD, make_dataset, make_user

NEW_PASSWORD = "a much longer new password"


def user_count(settings) -> int:
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    try:
        with transaction(make_session_factory(engine)) as session:
            return session.scalar(select(func.count()).select_from(User))
    finally:
        engine.dispose()


def setup_form(username: str = "admin", password: str = PASSWORD, confirm: str | None = None) -> dict:
    return {"username": username, "password": password, "confirm": password if confirm is None else confirm}


def test_setup_creates_the_first_user_once_and_never_again(client, settings):
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/setup"
    assert client.get("/login", follow_redirects=False).headers["location"] == "/setup"
    page = client.get("/setup")
    assert page.status_code == 200 and 'action="/setup"' in page.text

    created = post_form(client, "/setup", setup_form(), token_page="/setup")
    assert created.status_code == 303 and created.headers["location"] == "/dashboard"
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200 and "(admin)" in dashboard.text  # logged in as the new user
    assert user_count(settings) == 1

    # a second visitor, no cookie: the setup page is gone, and posting to it creates nobody
    client.cookies.clear()
    assert client.get("/setup").status_code == 404
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    again = post_form(client, "/setup", setup_form("intruder"), token_page="/login")
    assert again.status_code == 404
    assert user_count(settings) == 1
    assert form_login(client, "intruder").status_code == 401


def test_setup_is_gone_when_a_user_was_made_elsewhere(client, settings):
    make_user(settings, "alice")
    assert client.get("/setup").status_code == 404
    response = post_form(client, "/setup", setup_form("bob"), token_page="/login")
    assert response.status_code == 404 and user_count(settings) == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (setup_form(confirm="something else"), "differ"),
        (setup_form(password="short"), "at least 8"),
        (setup_form(username=""), "username"),
        (setup_form(username="x" * 65), "at most 64"),
    ],
)
def test_setup_refuses_bad_input_and_creates_nobody(client, settings, form, message):
    response = post_form(client, "/setup", form, token_page="/setup")
    assert response.status_code == 400 and message in response.text
    assert user_count(settings) == 0
    assert client.get("/setup").status_code == 200  # still open


def test_login_and_logout(client, settings):
    make_user(settings, "alice")
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/login?next=/dashboard"
    wrong = post_form(client, "/login", {"username": "alice", "password": "wrong password"}, token_page="/login")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    assert client.get("/dashboard", follow_redirects=False).status_code == 303

    response = post_form(
        client,
        "/login",
        {"username": "alice", "password": PASSWORD, "next": "/dashboard/datasets/new"},
        token_page="/login",
    )
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/datasets/new"
    assert client.get("/dashboard").status_code == 200
    assert client.get("/api/v1/auth/me").json()["username"] == "alice"  # the API shares the session

    logout = post_form(client, "/logout")
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/auth/me").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_login_redirects_only_within_the_site(client, settings, target):
    make_user(settings, "alice")
    response = post_form(
        client, "/login", {"username": "alice", "password": PASSWORD, "next": target}, token_page="/login"
    )
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(client, settings):
    dataset = make_dataset(settings, owner="alice", name="Kept")
    assert form_login(client, "alice").status_code == 303
    token = csrf_from(client, "/dashboard")
    posts = {
        "/logout": {},
        "/settings/password": {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        "/dashboard/datasets/new": {"name": "Sneaky"},
        f"/dashboard/datasets/{dataset.id}/keys/write": {},
        f"/dashboard/datasets/{dataset.id}/edit": {"name": "Renamed"},
        f"/dashboard/datasets/{dataset.id}/delete": {},
        "/login": {"username": "alice", "password": PASSWORD},
    }
    for path, data in posts.items():
        for bad in ({}, {"csrf_token": "forged"}, {"csrf_token": token[:-1]}):
            response = client.post(path, data={**data, **bad}, follow_redirects=False)
            assert response.status_code == 403, (path, bad, response.text)
            assert "security token" in response.text
    # still logged in, the dataset untouched, its write key still valid, no dataset added, password unchanged
    listing = client.get("/dashboard").text
    assert "Kept" in listing and "Sneaky" not in listing and "Renamed" not in listing
    assert client.get("/update", params={"key": dataset.write_key, "temperature": "1"}).status_code == 200
    assert form_login(client, "alice").status_code == 303


def test_a_token_from_another_session_is_refused(client, settings):
    make_user(settings, "alice")
    other_token = csrf_from(client, "/login")
    client.cookies.clear()
    csrf_from(client, "/login")  # this new session has a token of its own
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": other_token}, follow_redirects=False
    )
    assert response.status_code == 403


def test_change_password(client, settings):
    make_user(settings, "alice")
    assert form_login(client, "alice").status_code == 303
    assert client.get("/settings").status_code == 200
    bad = [
        ({"current": "wrong password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "current password"),
        ({"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "different"}, "differ"),
        ({"current": PASSWORD, "password": "short", "confirm": "short"}, "at least 8"),
    ]
    for form, message in bad:
        response = post_form(client, "/settings/password", form)
        assert response.status_code == 400 and message in response.text
    assert form_login(client, "alice", PASSWORD).status_code == 303  # nothing changed so far

    changed = post_form(
        client, "/settings/password", {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert changed.status_code == 303
    assert form_login(client, "alice", PASSWORD).status_code == 401
    assert form_login(client, "alice", NEW_PASSWORD).status_code == 303


def test_settings_need_a_login(client, settings):
    assert client.get("/settings", follow_redirects=False).headers["location"] == "/login?next=/settings"
    token = csrf_from(client, "/login")
    response = client.post(
        "/settings/password", data={"csrf_token": token, "current": "x", "password": "y" * 9, "confirm": "y" * 9}
    )
    assert response.status_code == 401
