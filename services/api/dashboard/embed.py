"""Embeddable charts of a public dataset (`<iframe src="/embed/datasets/{id}?vars=&range=">`); framing allowed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.api.dashboard.chartview import chart_context
from services.api.dashboard.deps import ViewableDatasetDep
from services.api.dashboard.render import PageRoute, page
from services.api.deps import SessionDep

router = APIRouter(prefix="/embed", route_class=PageRoute, include_in_schema=False)


@router.get("/datasets/{dataset_id}")
def embed(request: Request, session: SessionDep, dataset: ViewableDatasetDep) -> Response:
    """The dataset's charts alone, for other sites to frame (security.py leaves this path frameable)."""
    return page(request, "embed.html", dataset=dataset, **chart_context(request, session, dataset))
