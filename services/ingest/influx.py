"""InfluxDB's write surface (as InfluxDB 1.8 has it), so Telegraf and InfluxDB client libraries can write.

- `POST /api/v2/write?bucket=<dataset id>&precision=ns|us|ms|s` with `Authorization: Token <key>`;
- `POST /write?db=<dataset id>&precision=n|u|ms|s|m|h` with the key as `p`, a Basic password, or a Token;
- `GET|HEAD /ping`, `GET /health` (InfluxDB 2's health check); `POST /query` answering `CREATE DATABASE` (a no-op:
  datasets are made in Ownstream); `POST /api/v2/query` (Flux) answers 501 "not supported" in InfluxDB's shape.

The key is a dataset's write key or a device token. A bucket other than the key's own dataset answers 404
"bucket not found", as InfluxDB answers for a bucket the token cannot see: a key never learns whether
another dataset exists, and never writes it. Errors use InfluxDB's JSON shape `{"code", "message"}` (plus
1.x's `"error"` on the v1 routes).
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import APIRouter, Request, Response

from services.ingest.body import read_body
from services.ingest.credentials import Credential, require_writer
from services.ingest.formats import FORMATS
from services.ingest.request import push_params, runtime, submit
from shared.errors import (
    BadRequest,
    NotFound,
    NotSupported,
    OwnstreamError,
    Unauthorized,
)
from shared.http import JSON, known_error, route_per_method

router = APIRouter()

VERSION = "1.8.10"  # the InfluxDB release whose write API (v1 and v2) this mirrors
HEADERS = {"X-Influxdb-Version": VERSION, "X-Influxdb-Build": "Ownstream"}
V2_PRECISIONS = frozenset({"ns", "us", "ms", "s"})
V1_PRECISIONS = frozenset({"n", "ns", "u", "us", "µ", "ms", "s", "m", "h"})
CODES = {
    400: "invalid",
    401: "unauthorized",
    404: "not found",
    413: "request too large",
    501: "not implemented",
    503: "unavailable",
}
CREATE_DATABASE = re.compile(
    r'\s*CREATE\s+DATABASE\s+(?:"(?:[^"\\]|\\.)+"|[A-Za-z_][\w.-]*)(?:\s+WITH\s+.*)?\s*', re.I | re.S
)


def header_text(text: str) -> str:
    """`text` as an HTTP header value can carry it: printable ASCII, everything else escaped, one short line."""
    escaped = text.encode("ascii", "backslashreplace").decode()
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in escaped)[:200]


def influx_error(error: OwnstreamError, *, v1: bool) -> JSON:
    """An error in InfluxDB's shape, with the message also in X-Influxdb-Error as InfluxDB sends it."""
    status = error.status_code
    body = {"code": CODES.get(status, "internal error"), "message": error.detail}
    if v1:
        body["error"] = error.detail
    headers = {**HEADERS, **(error.headers or {}), "X-Influxdb-Error": header_text(error.detail)}
    return JSON(body, status_code=status, headers=headers)


def request_key(request: Request, *, v1: bool, password: str | None = None) -> str | None:
    """The key a client sent: `Token`/`Bearer` header; for v1 also Basic auth's password or `p`."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme in ("token", "bearer") and value:
        return value.rpartition(":")[2]  # `Token user:password`, as clients of InfluxDB 1.8 send it
    if v1 and scheme == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return (password or request.query_params.get("p")) if v1 else None


def target_dataset(text: str | None, credential: Credential, *, v1: bool) -> int:
    """The dataset id named by `bucket`/`db`, if this credential writes it; 404 otherwise."""
    noun = "database" if v1 else "bucket"
    name = (text or "").split("/", 1)[0].strip()  # "db/retention-policy" as InfluxDB 1.8's v2 API takes it
    if not name.isascii() or not name.isdigit() or len(name) > 10 or int(name) != credential.dataset_id:
        raise NotFound(f'{noun} not found: "{text}" (use the id of the dataset this key writes)')
    return credential.dataset_id


async def write(request: Request, *, v1: bool) -> Response:
    """Authenticate, bound, validate the whole body and enqueue it; 204 once it is durably queued."""
    params = request.query_params
    try:
        target = params.get("db") if v1 else params.get("bucket")
        if not target:
            raise BadRequest("database is required (db=<dataset id>)" if v1 else "bucket is required")
        precision = params.get("precision") or "ns"
        if precision not in (V1_PRECISIONS if v1 else V2_PRECISIONS):
            choices = "n, u, ms, s, m or h" if v1 else "ns, us, ms or s"
            raise BadRequest(f"invalid precision {precision!r}: use {choices}")
        rt = runtime(request)
        key = request_key(request, v1=v1)
        credential = require_writer(await rt.credential(key))
        target_dataset(target, credential, v1=v1)
        body = await read_body(request, rt.settings.max_body_bytes)
        message = FORMATS["lineproto"].accept(credential, body, rt.limits, source="http", precision=precision)
        await submit(rt, request, message)
    except Exception as error:
        mapped = known_error(error)
        if mapped is None:
            raise
        return influx_error(mapped, v1=v1)
    return Response(status_code=204, headers=HEADERS)


@router.post("/api/v2/write")
async def write_v2(request: Request) -> Response:
    """InfluxDB 2 write: bucket is the dataset id; org is accepted and ignored."""
    return await write(request, v1=False)


@router.post("/write")
async def write_v1(request: Request) -> Response:
    """InfluxDB 1.x write: db is the dataset id; rp, u and consistency are accepted and ignored."""
    return await write(request, v1=True)


@route_per_method(router, "/ping", ["GET", "HEAD"])
async def ping(request: Request) -> Response:
    """InfluxDB's liveness check: 204 with the version header (200 with JSON when verbose)."""
    if request.query_params.get("verbose", "").lower() in ("true", "1"):
        return JSON({"version": VERSION}, headers=HEADERS)
    return Response(status_code=204, headers=HEADERS)


@router.get("/health")
async def health() -> JSON:
    """InfluxDB 2's health check, which `influxdb-client`'s health() reads: the receiver is up."""
    return JSON(
        {
            "name": "influxdb",
            "message": "ready for writes",
            "status": "pass",
            "checks": [],
            "version": VERSION,
            "commit": "ownstream",
        },
        headers=HEADERS,
    )


@router.post("/api/v2/query")
async def flux_query() -> JSON:
    """Flux queries are not supported: a clear 501 in InfluxDB's error shape, which clients raise as an error."""
    error = NotSupported(
        "Flux queries are not supported by Ownstream; read data through GET /api/v1/datasets/{id}/data (see the README)"
    )
    return influx_error(error, v1=False)


@route_per_method(router, "/query", ["GET", "POST"])
async def query(request: Request) -> Response:
    """`CREATE DATABASE` (which Telegraf sends on start) succeeds and changes nothing; other queries are refused."""
    try:
        rt = runtime(request)
        params = await push_params(request, rt.settings.max_body_bytes)
        password, text = params.get("p"), params.get("q", "")
        if not isinstance(text, str) or not isinstance(password, str | None):
            raise BadRequest('"q" and "p" must be strings')
        key = request_key(request, v1=True, password=password)
        if key and await rt.credential(key) is None:
            raise Unauthorized("invalid key")
        text = text.strip()
        if not text:
            raise BadRequest('missing required parameter "q"')
        statements = [s for s in text.split(";") if s.strip()]
        for statement in statements:
            if not CREATE_DATABASE.fullmatch(statement):
                raise BadRequest(
                    f"unsupported query {statement.strip()[:80]!r}: Ownstream accepts only CREATE DATABASE here "
                    "(datasets are created in Ownstream); read data through /api/v1/datasets/{id}/data"
                )
    except Exception as error:
        mapped = known_error(error)
        if mapped is None:
            raise
        return influx_error(mapped, v1=True)
    return JSON({"results": [{"statement_id": index} for index in range(len(statements))]}, headers=HEADERS)
