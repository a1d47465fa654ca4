"""Every operation of the ingest and API schemas has an operation id of its own (OpenAPI requires it unique;
client generators name their functions by it)."""

from __future__ import annotations

import warnings
from collections import Counter


def test_operation_ids_are_unique_in_both_schemas(client):
    for app in (client.app.ingest, client.app.api):
        app.openapi_schema = None  # built afresh, so that its warnings are seen here
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # FastAPI warns "Duplicate Operation ID"
            schema = app.openapi()
        ids = Counter(op["operationId"] for path in schema["paths"].values() for op in path.values())
        assert ids and max(ids.values()) == 1, [name for name, n in ids.items() if n > 1]
    paths = client.app.ingest.openapi()["paths"]
    assert set(paths["/update"]) == {"get", "post"} and set(paths["/ping"]) == {"get", "head"}
