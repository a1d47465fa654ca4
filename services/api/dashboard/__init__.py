"""The web dashboard: server-rendered pages (Jinja2), a little vanilla JS, charts with uPlot."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from services.api.dashboard import account, datasets, devices, embed
from services.api.dashboard.render import install_page_errors
from services.api.dashboard.security import SecurityHeaders

STATIC = Path(__file__).resolve().parents[1] / "static"


def include_dashboard(app: FastAPI) -> None:
    """The dashboard's pages and static files (uPlot is copied into static/vendor by `make assets`)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(account.router)
    app.include_router(datasets.router)
    app.include_router(devices.router)
    app.include_router(embed.router)
    install_page_errors(app)
    app.add_middleware(SecurityHeaders)
