"""Dashboard dataset pages: my list only, create (keys shown once and working), keys, edit, delete, privacy."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from shared.db import connect_raw
from tests.support.dashboard import form_login, keys_on, post_form
from tests.support.factories import make_dataset, make_device, make_user
from tests.support.http import wait_for
from tests.support.worker import drain

VARIABLE_ROWS = [
    ("var_tag", "temperature"),
    ("var_name", "Temperature"),
    ("var_unit", "°C"),
    ("var_tag", "door"),
    ("var_name", ""),
    ("var_unit", ""),
    ("var_tag", ""),
    ("var_name", ""),
    ("var_unit", ""),
]


def push(client, dataset_id: int, write_key: str, values: dict, when: datetime | None = None, device: str = ""):
    reading = {"time": (when or datetime.now(UTC)).isoformat(), "values": values}
    if device:
        reading["device"] = device
    response = client.post(
        f"/api/v1/datasets/{dataset_id}/readings", headers={"X-Write-Key": write_key}, json={"readings": [reading]}
    )
    assert response.status_code == 202, response.text


def test_dashboard_lists_only_my_datasets(client, settings):
    mine = make_dataset(settings, owner="alice", name="Alice garden")
    theirs = make_dataset(settings, owner="mallory", name="Mallory secrets", public=True)
    push(client, mine.id, mine.write_key, {"temperature": 3.5})
    drain(settings)
    assert form_login(client, "alice").status_code == 303
    page = client.get("/dashboard").text
    assert "Alice garden" in page and f"/dashboard/datasets/{mine.id}" in page
    assert "Mallory secrets" not in page and f'/dashboard/datasets/{theirs.id}"' not in page
    assert '<span class="num">1</span> entries' in page  # the entry count
    assert "<code>temperature</code>" in page and "never" not in page


def test_new_dataset_shows_keys_once_and_they_work(client, settings):
    make_user(settings, "alice")
    assert form_login(client, "alice").status_code == 303
    assert 'name="var_tag"' in client.get("/dashboard/datasets/new").text
    response = post_form(
        client, "/dashboard/datasets/new", [("name", "Shed"), ("description", "Out back"), *VARIABLE_ROWS]
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    keys = keys_on(response.text)
    assert set(keys) == {"read", "write"}
    dataset_id = int(re.search(r"Dataset id: <strong>(\d+)</strong>", response.text).group(1))

    assert client.get("/update", params={"key": keys["write"], "temperature": "19.25"}).status_code == 200
    drain(settings)
    client.cookies.clear()
    rows = client.get(f"/api/v1/datasets/{dataset_id}/data", params={"key": keys["read"]}).json()["rows"]
    assert [(r["variable"], r["value"]) for r in rows] == [("temperature", 19.25)]

    # the dataset page never shows them again
    assert form_login(client, "alice").status_code == 303
    page = client.get(f"/dashboard/datasets/{dataset_id}").text
    assert keys["read"] not in page and keys["write"] not in page
    assert "Out back" in page and "°C" in page and "19.25" in page  # description, unit, latest value


def test_new_dataset_refuses_bad_input_and_creates_nothing(client, settings):
    make_user(settings, "alice")
    assert form_login(client, "alice").status_code == 303
    bad = [
        ([("name", "")], "name is required"),
        ([("name", "x" * 201)], "at most 200"),
        ([("name", "A"), ("var_tag", "bad tag!"), ("var_name", ""), ("var_unit", "")], "not valid"),
        (
            [
                ("name", "A"),
                ("var_tag", "a"),
                ("var_name", ""),
                ("var_unit", ""),
                ("var_tag", "a"),
                ("var_name", ""),
                ("var_unit", ""),
            ],
            "given twice",
        ),
        ([("name", "A"), ("var_tag", ""), ("var_name", "Orphan"), ("var_unit", "")], "needs a tag"),
        ([("name", "A"), ("var_tag", "a"), ("var_name", "")], "each variable row"),
        ([("name", "A"), ("var_tag", "a"), ("var_name", ""), ("var_unit", "u" * 51)], "unit at most 50"),
    ]
    for form, message in bad:
        response = post_form(client, "/dashboard/datasets/new", form)
        assert response.status_code == 400, (form, response.text)
        assert message in response.text and not keys_on(response.text)
    assert "You have no datasets yet" in client.get("/dashboard").text


def test_regenerating_a_key_refuses_the_old_one(client, settings):
    dataset = make_dataset(settings, owner="alice")
    assert form_login(client, "alice").status_code == 303
    response = post_form(client, f"/dashboard/datasets/{dataset.id}/keys/write")
    assert response.status_code == 200, response.text
    new = keys_on(response.text)
    assert list(new) == ["write"] and new["write"] != dataset.write_key

    def old_refused():
        return client.get("/update", params={"key": dataset.write_key, "temperature": "1"}).status_code == 401

    wait_for(old_refused, timeout=5, what="the old write key refused")
    assert client.get("/update", params={"key": new["write"], "temperature": "2"}).status_code == 200

    read = keys_on(post_form(client, f"/dashboard/datasets/{dataset.id}/keys/read").text)["read"]
    client.cookies.clear()
    assert client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": dataset.read_key}).status_code == 404
    assert client.get(f"/api/v1/datasets/{dataset.id}/data", params={"key": read}).status_code == 200
    assert form_login(client, "alice").status_code == 303
    assert post_form(client, f"/dashboard/datasets/{dataset.id}/keys/blue").status_code == 400


def test_another_users_dataset_is_not_found_for_them(client, settings):
    private = make_dataset(settings, owner="alice", name="Private place")
    make_user(settings, "mallory")
    assert client.get(f"/dashboard/datasets/{private.id}", follow_redirects=False).headers["location"] == (
        f"/login?next=/dashboard/datasets/{private.id}"
    )
    assert form_login(client, "mallory").status_code == 303
    for path in ("", "/edit", "/delete"):
        response = client.get(f"/dashboard/datasets/{private.id}{path}")
        assert response.status_code == 404 and "Private place" not in response.text
    for path, form in (("/keys/write", {}), ("/keys/read", {}), ("/edit", {"name": "Mine now"}), ("/delete", {})):
        assert post_form(client, f"/dashboard/datasets/{private.id}{path}", form).status_code == 404
    # nothing changed: the name, both keys, the dataset itself
    assert client.get("/update", params={"key": private.write_key, "temperature": "1"}).status_code == 200
    client.cookies.clear()
    assert client.get(f"/api/v1/datasets/{private.id}", params={"key": private.read_key}).json()["name"] == (
        "Private place"
    )
    # a stranger cannot tell a private dataset from none at all: both send them to log in
    assert client.get("/dashboard/datasets/99999", follow_redirects=False).headers["location"] == (
        "/login?next=/dashboard/datasets/99999"
    )
    assert form_login(client, "alice").status_code == 303
    assert client.get("/dashboard/datasets/99999").status_code == 404


def test_public_dataset_page_without_login_shows_no_keys(client, settings):
    dataset = make_dataset(settings, owner="alice", name="Town weather", public=True)
    push(client, dataset.id, dataset.write_key, {"temperature": 12.5})
    drain(settings)
    page = client.get(f"/dashboard/datasets/{dataset.id}")
    assert page.status_code == 200
    assert "Town weather" in page.text and "12.5" in page.text and 'id="charts"' in page.text
    assert dataset.read_key not in page.text and dataset.write_key not in page.text
    assert "Regenerate" not in page.text and "/edit" not in page.text and "WRITE_KEY" not in page.text
    chart = client.get(f"/api/v1/datasets/{dataset.id}/chart", params={"range": "hour"})
    assert chart.status_code == 200 and chart.json()["lines"][0]["v"] == [12.5]
    assert client.get(f"/dashboard/datasets/{dataset.id}/edit", follow_redirects=False).status_code == 303


def test_owner_page_shows_examples_devices_and_rejected_records(client, settings):
    dataset = make_dataset(settings, owner="alice")
    make_device(settings, dataset.id, "shed-sensor")
    push(
        client,
        dataset.id,
        dataset.write_key,
        {"temperature": 4.0},
        datetime.now(UTC) - timedelta(minutes=1),
        device="shed-sensor",
    )
    drain(settings)
    with connect_raw(settings) as conn:
        conn.execute(
            "insert into rejected_records (dataset_id, received_at, source, format, reason, raw) "
            "values (%s, now(), 'http', 'native', 'a reason to show', 'raw <b>text</b>')",
            (dataset.id,),
        )
    assert form_login(client, "alice").status_code == 303
    page = client.get(f"/dashboard/datasets/{dataset.id}").text
    assert "/update?api_key=WRITE_KEY&amp;temperature=21.5" in page
    assert f"channels/{dataset.id}/publish/WRITE_KEY" in page
    assert "<code>shed-sensor</code>" in page
    assert "a reason to show" in page and "raw &lt;b&gt;text&lt;/b&gt;" in page  # escaped
    client.cookies.clear()
    assert "a reason to show" not in client.get(f"/dashboard/datasets/{dataset.id}").text


def test_edit_and_add_variables(client, settings):
    dataset = make_dataset(settings, owner="alice", variables=("temperature",))
    assert form_login(client, "alice").status_code == 303
    form = [
        ("name", "Renamed"),
        ("description", "New words"),
        ("public", "on"),
        ("var_tag", "pressure"),
        ("var_name", "Pressure"),
        ("var_unit", "hPa"),
    ]
    response = post_form(client, f"/dashboard/datasets/{dataset.id}/edit", form)
    assert response.status_code == 303 and response.headers["location"] == f"/dashboard/datasets/{dataset.id}"
    wait_for(
        lambda: client.get("/update", params={"key": dataset.write_key, "pressure": "1013"}).status_code == 200,
        timeout=5,
        what="the new variable accepted",
    )
    client.cookies.clear()
    page = client.get(f"/dashboard/datasets/{dataset.id}").text  # public now: no login needed
    assert "Renamed" in page and "New words" in page and "hPa" in page

    assert form_login(client, "alice").status_code == 303
    clash = [("name", "Other name"), ("var_tag", "temperature"), ("var_name", ""), ("var_unit", "")]
    response = post_form(client, f"/dashboard/datasets/{dataset.id}/edit", clash)
    assert response.status_code == 409 and "exists" in response.text
    assert "Other name" not in client.get("/dashboard").text  # the whole edit was refused
    response = post_form(client, f"/dashboard/datasets/{dataset.id}/edit", [("name", "")])
    assert response.status_code == 400


def test_delete_removes_the_dataset_its_keys_and_readings(client, settings):
    dataset = make_dataset(settings, owner="alice", name="Doomed")
    kept = make_dataset(settings, owner="alice", name="Kept")
    push(client, dataset.id, dataset.write_key, {"temperature": 1.0})
    push(client, kept.id, kept.write_key, {"temperature": 2.0})
    drain(settings)
    assert form_login(client, "alice").status_code == 303
    assert "cannot be undone" in client.get(f"/dashboard/datasets/{dataset.id}/delete").text
    response = post_form(client, f"/dashboard/datasets/{dataset.id}/delete")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    listing = client.get("/dashboard").text
    assert f'href="/dashboard/datasets/{dataset.id}"' not in listing and "Kept" in listing
    assert client.get(f"/dashboard/datasets/{dataset.id}").status_code == 404
    wait_for(
        lambda: client.get("/update", params={"key": dataset.write_key, "temperature": "1"}).status_code == 401,
        timeout=5,
        what="the deleted dataset's key refused",
    )
    with connect_raw(settings) as conn:
        assert conn.execute("select count(*) from readings").fetchone()[0] == 1  # only Kept's


def test_the_edit_form_shows_and_changes_accept_new_variables(client, settings):
    dataset = make_dataset(settings, owner="alice", variables=("temperature",))
    assert form_login(client, "alice").status_code == 303
    edit_page = client.get(f"/dashboard/datasets/{dataset.id}/edit").text
    assert 'name="accept_new_variables" >' in edit_page  # shown, and unchecked: the dataset declared its variables
    assert client.get("/update", params={"key": dataset.write_key, "wind": "3"}).status_code == 400
    form = [("name", "Weather"), ("accept_new_variables", "on")]
    assert post_form(client, f"/dashboard/datasets/{dataset.id}/edit", form).status_code == 303
    assert 'name="accept_new_variables" checked>' in client.get(f"/dashboard/datasets/{dataset.id}/edit").text
    wait_for(
        lambda: client.get("/update", params={"key": dataset.write_key, "wind": "3"}).status_code == 200,
        timeout=5,
        what="a new variable accepted",
    )
