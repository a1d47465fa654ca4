"""What a chart page shows: the time range (relative, all, or custom), the variables, overlaid or one chart each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.errors import BadRequest
from shared.models import Dataset
from shared.values import ValueProblem, parse_time

# Relative ranges, in seconds back from now; "all" starts at the dataset's first reading.
RANGES = {"hour": 3600, "day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400, "year": 365 * 86_400}
RANGE_LABELS = {"hour": "Hour", "day": "Day", "week": "Week", "month": "Month", "year": "Year", "all": "All"}
DEFAULT_RANGE = "day"
DEFAULT_CHARTS = 8  # charts shown before the visitor chooses variables: each one is a query, live ones every 5 s

# Hot rows and packed cold ones (readings_packed, storage mode "partitioned"): one index probe per series each.
FIRST_READING = text("""
select least(min((select min(r.time) from readings r where r.series_id = s.id)),
             min((select min(p.start) from readings_packed p where p.series_id = s.id)))
from series s where s.dataset_id = :id
""")


@dataclass
class ChartView:
    """The chart settings of a page, from its query string."""

    range: str  # a key of RANGE_LABELS, or "custom"
    start: datetime | None = None  # custom ranges only
    end: datetime | None = None
    variables: list[str] = field(default_factory=list)  # chosen tags, in the dataset's order
    overlay: bool = False

    @property
    def groups(self) -> list[list[str]]:
        """The variables of each chart: all in one when overlaid, else one chart per variable."""
        if self.overlay and self.variables:
            return [self.variables]
        return [[tag] for tag in self.variables]

    def query(self, **changes: object) -> str:
        """This view's query string with `changes` (a range of None drops start/end)."""
        params: dict[str, object] = {}
        range_ = changes.get("range", self.range)
        if range_ == "custom" and self.start and self.end:
            params["start"], params["end"] = _local(self.start), _local(self.end)
        else:
            params["range"] = range_
        params["vars"] = ",".join(changes.get("variables", self.variables))  # type: ignore[arg-type]
        if changes.get("overlay", self.overlay):
            params["overlay"] = "1"
        return "?" + urlencode(params)

    def start_input(self) -> str:
        return _local(self.start) if self.start else ""

    def end_input(self) -> str:
        return _local(self.end) if self.end else ""


def _local(moment: datetime) -> str:
    """The value of a datetime-local field (UTC, to the minute)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _time(value: str, name: str) -> datetime:
    try:
        moment = parse_time(value)
    except ValueProblem as problem:
        raise BadRequest(f"{name}: {problem}") from None
    if not 1970 <= moment.year <= 9998:
        raise BadRequest(f"{name} must be between 1970 and 9998")
    return moment


def chart_view(request: Request, dataset: Dataset) -> ChartView:
    """The view a page's query string asks for; a bad range or time is a 400 naming it."""
    params = request.query_params
    tags = [v.tag for v in dataset.variables]
    wanted = {tag for value in params.getlist("vars") for tag in value.split(",") if tag}
    chosen = wanted or set(tags[:DEFAULT_CHARTS])
    view = ChartView(
        DEFAULT_RANGE,
        variables=[t for t in tags if t in chosen] or tags[:DEFAULT_CHARTS],
        overlay=params.get("overlay") in ("1", "on", "true"),
    )
    start, end = params.get("start"), params.get("end")
    if start or end:
        if not (start and end):
            raise BadRequest("a custom range needs both start and end")
        view.range, view.start, view.end = "custom", _time(start, "start"), _time(end, "end")
        if view.end <= view.start:
            raise BadRequest("end must be after start")
    elif params.get("range"):
        if params["range"] not in RANGE_LABELS:
            raise BadRequest(f"range must be one of {', '.join(RANGE_LABELS)}")
        view.range = params["range"]
    return view


def first_reading(session: Session, dataset_id: int) -> datetime | None:
    """When the dataset's oldest reading was taken (one index probe per series)."""
    return session.execute(FIRST_READING, {"id": dataset_id}).scalar()


def chart_context(request: Request, session: Session, dataset: Dataset) -> dict:
    """What a page with charts of `dataset` needs: the view, its time bounds, and the variables' names."""
    return {
        "view": chart_view(request, dataset),
        "ranges": RANGE_LABELS,
        "first": first_reading(session, dataset.id),
        "names": {v.tag: {"name": v.name or v.tag, "unit": v.unit or ""} for v in dataset.variables},
    }
