"""The ingest service as an ASGI app (`ownstream serve ingest`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.health import Probe, include_health
from services.ingest import autopi, http, influx
from services.ingest.runtime import IngestRuntime
from shared.config import Settings, get_settings
from shared.http import JSON, install_error_handlers


@asynccontextmanager
async def ingest_lifespan(app: FastAPI) -> AsyncIterator[None]:
    rt = IngestRuntime(app.state.settings)
    rt.start()
    app.state.ingest = rt
    app.state.probe = Probe(rt.settings, lambda: _select_one(rt), rt.redis)
    try:
        yield
    finally:
        await rt.stop()


def _select_one(rt: IngestRuntime) -> None:
    with rt.pool.connection(timeout=2) as conn:
        conn.execute("select 1")


def include_ingest(app: FastAPI) -> None:
    for module in (http, autopi, influx):
        app.include_router(module.router)
    include_health(app)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="Ownstream ingest", lifespan=ingest_lifespan, default_response_class=JSON, openapi_url=None)
    app.state.settings = settings or get_settings()
    install_error_handlers(app)
    include_ingest(app)
    return app
