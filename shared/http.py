"""What every Ownstream HTTP app shares: JSON errors in one shape, never a 500 for client input."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
import psycopg_pool
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError as SADataError
from sqlalchemy.exc import OperationalError as SAOperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from shared.errors import BadRequest, DatabaseUnavailable, OwnstreamError, QueueUnavailable

log = logging.getLogger(__name__)

DATABASE_ERRORS = (psycopg.OperationalError, psycopg_pool.PoolTimeout, SAOperationalError)
DATA_ERRORS = (psycopg.DataError, SADataError)


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def route_per_method(router: APIRouter, path: str, methods: Sequence[str]) -> Callable[[Endpoint], Endpoint]:
    """Register an endpoint for `path` once per method: each (method, path) gets its own OpenAPI operation id
    (one route with several methods gives them all the same id, which OpenAPI forbids and client generators trip
    on)."""

    def register(endpoint: Endpoint) -> Endpoint:
        for method in methods:
            name = re.sub(r"\W", "_", path.strip("/"))
            operation = f"{endpoint.__name__}_{name}_{method.lower()}"
            router.add_api_route(path, endpoint, methods=[method], operation_id=operation)
        return endpoint

    return register


class JSON(JSONResponse):
    """JSON rendered by orjson; times as ISO-8601 UTC with a trailing Z."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def error_response(error: OwnstreamError) -> JSON:
    return JSON(error.body(), status_code=error.status_code, headers=error.headers)


def _describe(errors: Sequence[Any]) -> str:
    parts = []
    for err in errors[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts)


def passing_error(error: Exception) -> OwnstreamError | None:
    """The 503 for a passing failure of a service behind us (queue or database away); None for anything else."""
    if isinstance(error, RedisError):
        log.warning("redis unavailable: %s", error)
        return QueueUnavailable("the queue (Redis) is unreachable; send again later", headers={"Retry-After": "5"})
    if isinstance(error, DATABASE_ERRORS):
        log.warning("database unavailable: %s", error)
        return DatabaseUnavailable("the database is unreachable; try again later", headers={"Retry-After": "5"})
    return None


def refused_value(error: Exception) -> BadRequest:
    """PostgreSQL refused a value that came from the request (a number out of range, a NUL in text): the client's
    input, so a 400, never a 500. Routes check what they can first; this is the net under them."""
    log.info("value refused by the database: %s", error)
    return BadRequest(
        "a value in the request is out of range or contains characters that cannot be stored (such as NUL)"
    )


def known_error(error: Exception) -> OwnstreamError | None:
    """The answer for an error the apps know: ours as it is, a refused value (400), a passing failure (503);
    None for anything else (a bug, answered 500). The one mapping the app handlers and direct handlers use."""
    if isinstance(error, OwnstreamError):
        return error
    if isinstance(error, DATA_ERRORS):
        return refused_value(error)
    return passing_error(error)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OwnstreamError)
    async def _ownstream(_: Request, error: OwnstreamError) -> JSON:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSON:
        return JSON({"error": "bad_request", "detail": _describe(error.errors())}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSON:
        names = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        return JSON(
            {"error": names.get(error.status_code, "http_error"), "detail": str(error.detail)},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    async def _known(_: Request, error: Exception) -> JSON:
        return error_response(known_error(error))  # type: ignore[arg-type]  # registered for known kinds only

    for kind in (RedisError, *DATABASE_ERRORS, *DATA_ERRORS):
        app.add_exception_handler(kind, _known)
