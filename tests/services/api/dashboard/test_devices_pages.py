"""Dashboard device pages: register (token once, with snippets), new token, revoke; bad input, CSRF, privacy."""

from __future__ import annotations

import re

from tests.support.dashboard import form_login, post_form
from tests.support.factories import make_dataset, make_user
from tests.support.http import wait_for
from tests.support.worker import drain

TOKEN_RE = re.compile(r'<code class="secret" id="device-token" data-token>([0-9a-f]+)</code>')


def push_with(client, dataset_id: int, token: str) -> int:
    return client.post(
        f"/api/v1/datasets/{dataset_id}/readings",
        headers={"X-Write-Key": token},
        json={"readings": [{"values": {"temperature": 7.5}}]},
    ).status_code


def register(client, dataset_id: int, device_id: str):
    return post_form(client, f"/dashboard/datasets/{dataset_id}/devices", {"device_id": device_id})


def test_register_shows_the_token_once_and_the_device_is_seen_when_it_sends(client, settings):
    dataset = make_dataset(settings, owner="alice")
    assert form_login(client, "alice").status_code == 303
    response = register(client, dataset.id, "car-1")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    token = TOKEN_RE.search(response.text).group(1)
    assert f"devices/{token}/telemetry" in response.text and f"registered/{dataset.id}/car-1/telemetry" in response.text
    page = client.get(f"/dashboard/datasets/{dataset.id}").text
    assert 'data-device="car-1"' in page and token not in page
    assert re.search(r'data-device="car-1".*?data-last-seen><span class="muted">never', page, re.S)

    wait_for(lambda: push_with(client, dataset.id, token) == 202, timeout=5, what="the new token accepted")
    drain(settings)
    page = client.get(f"/dashboard/datasets/{dataset.id}").text
    assert not re.search(r'data-device="car-1".*?data-last-seen><span class="muted">never', page, re.S)


def test_new_token_refuses_the_old_one_and_revoke_refuses_any(client, settings):
    dataset = make_dataset(settings, owner="alice")
    assert form_login(client, "alice").status_code == 303
    old = TOKEN_RE.search(register(client, dataset.id, "car-1").text).group(1)
    wait_for(lambda: push_with(client, dataset.id, old) == 202, timeout=5, what="the token accepted")

    response = post_form(client, f"/dashboard/datasets/{dataset.id}/devices/car-1/token")
    new = TOKEN_RE.search(response.text).group(1)
    assert new != old and "The old token no longer works" in response.text
    wait_for(lambda: push_with(client, dataset.id, old) == 401, timeout=5, what="the old token refused")
    assert push_with(client, dataset.id, new) == 202

    response = post_form(client, f"/dashboard/datasets/{dataset.id}/devices/car-1/revoke")
    assert response.status_code == 303 and response.headers["location"].startswith(f"/dashboard/datasets/{dataset.id}")
    wait_for(lambda: push_with(client, dataset.id, new) == 401, timeout=5, what="the revoked token refused")
    assert 'data-device="car-1"' not in client.get(f"/dashboard/datasets/{dataset.id}").text


def test_bad_or_duplicate_device_ids_register_nothing(client, settings):
    dataset = make_dataset(settings, owner="alice")
    assert form_login(client, "alice").status_code == 303
    assert register(client, dataset.id, "car-1").status_code == 200
    for bad, message in (
        ("", "is not valid"),
        ("has space", "is not valid"),
        ("a/b", "is not valid"),
        ("x" * 201, "at most 200"),
        ("car-1", "exists"),
    ):
        response = register(client, dataset.id, bad)
        assert response.status_code == 303, (bad, response.text)
        page = client.get(response.headers["location"]).text
        assert 'class="error" role="alert"' in page and message in page, (bad, message)
    page = client.get(f"/dashboard/datasets/{dataset.id}").text
    assert page.count("data-device=") == 1


def test_device_forms_need_the_owner_and_the_csrf_token(client, settings):
    dataset = make_dataset(settings, owner="alice")
    make_user(settings, "mallory")
    assert form_login(client, "alice").status_code == 303
    token = TOKEN_RE.search(register(client, dataset.id, "car-1").text).group(1)
    for path in ("", "/car-1/token", "/car-1/revoke"):
        response = client.post(
            f"/dashboard/datasets/{dataset.id}/devices{path}", data={"device_id": "x"}, follow_redirects=False
        )
        assert response.status_code == 403 and "security token" in response.text
    assert form_login(client, "mallory").status_code == 303
    for path in ("", "/car-1/token", "/car-1/revoke"):
        response = post_form(client, f"/dashboard/datasets/{dataset.id}/devices{path}", {"device_id": "x"})
        assert response.status_code == 404 and token not in response.text
    assert form_login(client, "alice").status_code == 303
    assert post_form(client, f"/dashboard/datasets/{dataset.id}/devices/nope/token").status_code == 404
    wait_for(lambda: push_with(client, dataset.id, token) == 202, timeout=5, what="the untouched token")
