"""Every endpoint by every wrong credential: refused with the right status, and nothing of alice's changed.

The routes come from the app itself: a route missing from RULES fails the test, so a new endpoint cannot be
left out silently. Each route's class says what each credential kind must get; None means that credential is
legitimately allowed there (say, bob writing to his own dataset) and is not a refusal case.
"""

from __future__ import annotations

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.support.db import queued_jobs
from tests.support.factories import PASSWORD, make_dataset, make_device, make_token

WRONG = "0123456789abcdef" * 2 + "01234567"
KINDS = ("none", "wrong", "read_key", "write_key", "other_device", "other_session", "other_token")

# class -> expected status per credential kind (None: not a refusal case for that kind)
EXPECT: dict[str, dict[str, int | None]] = {
    "write": dict(
        none=401, wrong=401, read_key=401, write_key=None, other_device=401, other_session=401, other_token=401
    ),
    "write_own": dict(
        none=401, wrong=401, read_key=401, write_key=None, other_device=None, other_session=401, other_token=401
    ),
    "device_write": dict(
        none=401, wrong=401, read_key=401, write_key=None, other_device=None, other_session=401, other_token=401
    ),
    "read": dict(
        none=404, wrong=404, read_key=None, write_key=404, other_device=404, other_session=404, other_token=404
    ),
    "owner": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=401, other_session=404, other_token=404
    ),
    "user": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=401, other_session=None, other_token=None
    ),
    "session": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=401, other_session=None, other_token=401
    ),
    "session_target": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=401, other_session=404, other_token=401
    ),
    "device_target": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=401, other_session=404, other_token=404
    ),
    "device_read": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=404, other_session=404, other_token=404
    ),
    "page": dict(
        none=303, wrong=303, read_key=303, write_key=303, other_device=303, other_session=None, other_token=303
    ),
    "page_target": dict(
        none=303, wrong=303, read_key=303, write_key=303, other_device=303, other_session=404, other_token=303
    ),
    "form": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=401, other_session=403, other_token=401
    ),
    "form_target": dict(
        none=401, wrong=401, read_key=401, write_key=401, other_device=401, other_session=404, other_token=401
    ),
    "csrf": dict(
        none=403, wrong=403, read_key=403, write_key=403, other_device=403, other_session=403, other_token=403
    ),
    "public": {},
}

RULES: dict[tuple[str, str], str] = {
    ("GET", "/update"): "write_own",
    ("POST", "/update"): "write_own",
    ("GET", "/update.json"): "write_own",
    ("POST", "/update.json"): "write_own",
    ("POST", "/channels/{dataset_id}/bulk_update.json"): "write",
    ("POST", "/channels/{dataset_id}/bulk_update.csv"): "write",
    ("POST", "/api/v1/datasets/{dataset_id}/readings"): "write",
    ("POST", "/autopi"): "device_write",
    ("POST", "/api/v2/write"): "write_own",
    ("POST", "/write"): "write_own",
    ("GET", "/ping"): "public",
    ("HEAD", "/ping"): "public",
    ("GET", "/query"): "public",
    ("POST", "/query"): "public",
    ("POST", "/api/v1/auth/login"): "public",
    ("POST", "/api/v1/auth/logout"): "public",
    ("GET", "/api/v1/auth/me"): "public",
    ("GET", "/api/v1/datasets"): "user",
    ("POST", "/api/v1/datasets"): "user",
    ("GET", "/api/v1/datasets/{dataset_id}"): "read",
    ("POST", "/api/v1/datasets/{dataset_id}/keys/{kind}/regenerate"): "owner",
    ("POST", "/api/v1/datasets/{dataset_id}/variables"): "owner",
    ("GET", "/api/v1/datasets/{dataset_id}/data"): "read",
    ("GET", "/datasets/{dataset_id}"): "read",
    ("GET", "/api/v1/datasets/{dataset_id}/chart"): "read",
    ("POST", "/api/v1/tokens"): "session",
    ("GET", "/api/v1/tokens"): "session",
    ("DELETE", "/api/v1/tokens/{token_id}"): "session_target",
    ("POST", "/api/devices/create"): "device_target",
    ("GET", "/api/devices"): "user",
    ("GET", "/api/devices/{device_id}"): "device_target",
    ("POST", "/api/devices/{device_id}/token"): "device_target",
    ("DELETE", "/api/devices/{device_id}"): "device_target",
    ("GET", "/api/devices/{device_id}/measurements"): "device_read",
    ("GET", "/api/v1/datasets/{dataset_id}/rejected"): "read",
    ("GET", "/api/v1/datasets/{dataset_id}/events"): "read",
    ("GET", "/channels/{dataset_id}/feeds.json"): "read",
    ("GET", "/channels/{dataset_id}/feeds.csv"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}.json"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}.csv"): "read",
    ("GET", "/channels/{dataset_id}/feeds/last.json"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}/last.txt"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}/last"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}/last.json"): "read",
    ("GET", "/channels/{dataset_id}.json"): "read",
    ("GET", "/channels/{dataset_id}.xml"): "read",
    ("GET", "/channels/{dataset_id}"): "read",
    ("GET", "/channels/{dataset_id}/feeds"): "read",
    ("GET", "/channels/{dataset_id}/feeds.xml"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}.xml"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}/last_data_age"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}/last_data_age.json"): "read",
    ("GET", "/channels/{dataset_id}/fields/{field}/last_data_age.txt"): "read",
    ("GET", "/channels/{dataset_id}/status.json"): "read",
    ("GET", "/api/v1/datasets/{dataset_id}/latest"): "read",
    ("PATCH", "/api/v1/datasets/{dataset_id}"): "owner",
    ("POST", "/api/v2/query"): "public",  # answers 501: Flux is not supported, whoever asks
    ("GET", "/favicon.ico"): "public",
    ("GET", "/health"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/"): "public",
    ("GET", "/setup"): "public",
    ("POST", "/setup"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "csrf",
    ("GET", "/settings"): "page",
    ("POST", "/settings/password"): "form",
    ("GET", "/dashboard"): "page",
    ("GET", "/dashboard/datasets/new"): "page",
    ("POST", "/dashboard/datasets/new"): "form",
    ("GET", "/dashboard/datasets/{dataset_id}"): "page_target",
    ("POST", "/dashboard/datasets/{dataset_id}/keys/{kind}"): "form_target",
    ("POST", "/dashboard/datasets/{dataset_id}/devices"): "form_target",
    ("POST", "/dashboard/datasets/{dataset_id}/devices/{device_id}/token"): "form_target",
    ("POST", "/dashboard/datasets/{dataset_id}/devices/{device_id}/revoke"): "form_target",
    ("GET", "/embed/datasets/{dataset_id}"): "page_target",
    ("GET", "/dashboard/datasets/{dataset_id}/edit"): "page_target",
    ("POST", "/dashboard/datasets/{dataset_id}/edit"): "form_target",
    ("GET", "/dashboard/datasets/{dataset_id}/delete"): "page_target",
    ("POST", "/dashboard/datasets/{dataset_id}/delete"): "form_target",
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the all-in-one app serves, ingest and API, included routers unfolded."""

    def walk(routes, prefix=""):
        for route in routes:
            if isinstance(route, APIRoute):
                for method in route.methods:
                    yield method, prefix + route.path
            elif hasattr(route, "original_router"):  # FastAPI's included router
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "routes") and hasattr(route, "path_format"):
                yield from walk(route.routes, prefix + route.path_format)

    return set(walk(app.ingest.router.routes)) | set(walk(app.api.router.routes))


def snapshot(settings, dataset_id: int) -> tuple:
    """Everything of alice's that a refused request must leave alone."""
    with psycopg.connect(settings.database_url) as conn:
        return tuple(
            conn.execute(query, (dataset_id,)).fetchall()
            for query in (
                "select name, description, public, entry_count from datasets where id = %s",
                "select tag, name, unit from variables where dataset_id = %s order by tag",
                "select kind, key_hash, revoked_at from dataset_keys where dataset_id = %s order by id",
                "select device_id, token_hash, revoked_at from devices where dataset_id = %s order by id",
                "select t.id, t.token_hash, t.revoked_at from user_tokens t join datasets d on d.owner_id = t.user_id"
                " where d.id = %s order by t.id",
                "select count(*) from readings r join series s on s.id = r.series_id where s.dataset_id = %s",
                "select count(*) from rejected_records where dataset_id = %s",
            )
        )


@pytest.fixture
def world(client, settings):
    alice = make_dataset(settings, owner="alice", variables=("field1", "temperature"))
    make_device(settings, alice.id, "car1")
    alice_token = make_token(settings, "alice")
    bob = make_dataset(settings, owner="bob", name="Bobs")
    bob_device = make_device(settings, bob.id, "van")
    bob_token = make_token(settings, "bob")
    return alice, alice_token, bob_device, bob_token


def credential(kind: str, alice, bob_device: str, bob_token: str) -> tuple[dict, dict]:
    """(headers, query params) carrying the credential in every place an endpoint may look."""
    secret = {
        "wrong": WRONG,
        "read_key": alice.read_key,
        "write_key": alice.write_key,
        "other_device": bob_device,
        "other_token": bob_token,
    }.get(kind)
    if secret is None:
        return {}, {}
    headers = {
        "X-Write-Key": secret,
        "X-Read-Key": secret,
        "X-THINGSPEAKAPIKEY": secret,
        "Authorization": f"Bearer {secret}",
    }
    params = {"key": secret, "api_key": secret, "write_api_key": secret}
    return headers, params


def request_for(method: str, path: str, alice, alice_token_id: int) -> tuple[str, dict, dict]:
    """The URL, extra query parameters and body of a request to `path` aimed at alice's things."""
    url = path.format(dataset_id=alice.id, kind="write", field=1, token_id=alice_token_id, device_id="car1")
    query: dict = {}
    body: dict = {}
    if url == "/api/devices/create":
        body = {"json": {"deviceId": "intruder", "datasetId": alice.id}}
    elif url.endswith("/readings"):
        body = {"json": {"readings": [{"time": "2026-01-01T00:00:00Z", "values": {"temperature": 1}}]}}
    elif method == "PATCH":
        body = {"json": {"name": "intruder", "public": True}}
    elif url.endswith("/variables"):
        body = {"json": {"tag": "intruder"}}
    elif url.endswith("bulk_update.json"):
        body = {"json": {"updates": [{"created_at": "2026-01-01T00:00:00Z", "field1": 1}]}}
    elif url in ("/write", "/api/v2/write", "/autopi", "/update", "/update.json") and method == "POST":
        body = {"content": b"temperature=1" if url.startswith("/update") else b"m temperature=1"}
    if url.startswith("/update") and method == "GET":
        query = {"temperature": "1"}
    if url in ("/write", "/api/v2/write"):
        query = {"bucket": str(alice.id), "db": str(alice.id), "org": "x"}
    return url, query, body


def test_every_route_is_classified(client):
    unclassified = sorted(app_routes(client.app) - set(RULES))
    assert not unclassified, f"classify these routes in RULES: {unclassified}"
    gone = sorted(set(RULES) - app_routes(client.app))
    assert not gone, f"RULES names routes the app no longer has: {gone}"


def test_every_endpoint_refuses_every_wrong_credential_and_changes_nothing(client, settings, world):
    alice, _alice_token, bob_device, bob_token = world
    me = TestClient(client.app)  # no lifespan of its own: that would close the app's pools on exit
    assert me.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    (alice_token_id,) = [row["id"] for row in me.get("/api/v1/tokens").json()]
    bob_session = TestClient(client.app)
    assert bob_session.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}).status_code == 200
    before = snapshot(settings, alice.id)
    wrong: list[str] = []
    cases = 0
    for (method, path), rule in sorted(RULES.items()):
        url, query, body = request_for(method, path, alice, alice_token_id)
        for kind, expected in EXPECT[rule].items():
            if expected is None:
                continue
            caller = bob_session if kind == "other_session" else client
            client.cookies.clear()
            headers, params = credential(kind, alice, bob_device, bob_token)
            response = caller.request(
                method, url, headers=headers, params={**params, **query}, follow_redirects=False, **body
            )
            cases += 1
            if response.status_code != expected:
                wrong.append(
                    f"{method} {url} as {kind}: {response.status_code} (want {expected}) {response.text[:120]!r}"
                )
            if expected == 303 and not response.headers.get("location", "").startswith("/login"):
                wrong.append(f"{method} {url} as {kind}: redirected to {response.headers.get('location')}")
    assert not wrong, f"{len(wrong)} of {cases} cases wrong:\n" + "\n".join(wrong)
    assert snapshot(settings, alice.id) == before
    assert queued_jobs(settings) == 0  # nothing was queued for alice either
    print(f"AUTH MATRIX: {cases} refusals checked over {len(RULES)} routes")
