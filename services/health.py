"""`/healthz` (the process answers), `/readyz` (database, its read replica if any, and Redis reachable) and
`/metrics`, on every HTTP app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Request
from redis import Redis
from redis.exceptions import RedisError
from starlette.responses import Response

from shared.config import Settings
from shared.http import JSON
from shared.metrics import CONTENT_TYPE, QueueCollector, exposition


@dataclass
class Probe:
    """How an app reaches its database and Redis, for readiness and queue metrics."""

    settings: Settings
    database: Callable[[], object]  # runs `select 1`; raises when the database is away
    redis: Redis
    read_database: Callable[[], object] | None = None  # the same on the read replica, when the app reads from one


router = APIRouter(include_in_schema=False)


def probe(request: Request) -> Probe:
    return request.app.state.probe


@router.get("/healthz")
def healthz() -> JSON:
    return JSON({"ok": True})


@router.get("/readyz")
def readyz(request: Request) -> JSON:
    p = probe(request)
    checks: dict[str, str] = {}
    databases = {"database": p.database, **({"read_database": p.read_database} if p.read_database else {})}
    for name, check in databases.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as error:  # any failure means "not ready"; the reason goes back to the caller
            checks[name] = f"unreachable: {type(error).__name__}"
    try:
        p.redis.ping()
        checks["redis"] = "ok"
    except RedisError as error:
        checks["redis"] = f"unreachable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSON({"ready": ready, **checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    p = probe(request)
    return Response(exposition(QueueCollector(p.redis, p.settings)), media_type=CONTENT_TYPE)


def include_health(app: FastAPI) -> None:
    app.include_router(router)
