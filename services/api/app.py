"""The API service (`ownstream serve api`): query API and management API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from sqlalchemy import Engine, text
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse

from services.api.dashboard import include_dashboard
from services.api.read_cost import ReadCostDep
from services.api.routes import auth, charts, data, datasets, devices, events, rejected, thingspeak, tokens
from services.health import Probe, include_health
from shared.config import Settings, get_settings
from shared.db import make_engine, make_session_factory
from shared.http import JSON, install_error_handlers
from shared.redis_clients import redis_client

FAVICON = Path(__file__).resolve().parent / "static" / "favicon.ico"


@asynccontextmanager
async def api_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_engine(settings)
    app.state.sessions = make_session_factory(engine)
    # readings are read from a streaming replica when one is configured; keys, users and writes never are
    read_engine = make_engine(settings, url=settings.read_database_url) if settings.read_database_url else None
    app.state.read_sessions = make_session_factory(read_engine) if read_engine is not None else None
    app.state.redis = redis_client(settings)
    app.state.probe = Probe(
        settings,
        lambda: _select_one(engine),
        app.state.redis,
        partial(_select_one, read_engine) if read_engine is not None else None,
    )
    try:
        yield
    finally:
        app.state.redis.close()
        engine.dispose()
        if read_engine is not None:
            read_engine.dispose()


def include_api(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="ownstream_session",
        same_site="lax",
        https_only=settings.environment == "production",
    )
    reads = (data, charts, devices, rejected, events, thingspeak)  # each read is charged to its caller's budget
    for module in (auth, datasets, data, charts, tokens, devices, rejected, events, thingspeak):
        app.include_router(module.router, dependencies=[ReadCostDep] if module in reads else [])
    include_health(app)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        """Browsers ask for it on every site; the same picture is static/favicon.svg."""
        return FileResponse(FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})


def include_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from this server's own static files (copied from npm by `make assets`), not a CDN."""

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title=f"{app.title} - docs",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
        )

    app.add_route("/docs", docs, include_in_schema=False)


def _select_one(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("select 1"))


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Ownstream API", lifespan=api_lifespan, default_response_class=JSON, docs_url=None, redoc_url=None
    )
    app.state.settings = settings or get_settings()
    install_error_handlers(app)
    include_api(app, app.state.settings)
    include_dashboard(app)
    include_docs(app)
    return app
