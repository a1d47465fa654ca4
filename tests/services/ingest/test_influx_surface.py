"""What InfluxDB clients ask besides writes: health, a Flux query, CREATE DATABASE with an empty JSON body."""

from __future__ import annotations


def test_health_answers_pass(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "pass"
    assert response.headers["X-Influxdb-Version"]


def test_a_flux_query_is_refused_as_not_supported(client):
    response = client.post("/api/v2/query", params={"org": "any"}, json={"query": 'from(bucket: "1")'})
    assert response.status_code == 501
    assert response.json()["code"] == "not implemented" and "not supported" in response.json()["message"]


def test_create_database_with_an_empty_json_body_as_the_v1_client_sends_it(client):
    response = client.post(
        "/query", params={"q": 'CREATE DATABASE "12"'}, headers={"Content-Type": "application/json"}, content=b""
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"results": [{"statement_id": 0}]}
    bad = client.post(
        "/query",
        params={"q": 'CREATE DATABASE "12"'},
        headers={"Content-Type": "application/json"},
        content=b"{not json",
    )
    assert bad.status_code == 400 and "not JSON" in bad.json()["message"]
    wrong_key = client.post(
        "/query",
        params={"q": 'CREATE DATABASE "12"', "p": "wrong"},
        headers={"Content-Type": "application/json"},
        content=b"",
    )
    assert wrong_key.status_code == 401
