"""ThingSpeak's read API on datasets (channels): feeds, fields, last values and the channel, in its shapes.

Authorization is the API's own: public datasets need no key, private ones their read key (`api_key`).
A channel with no entry answers `-1`, as ThingSpeak does. Feeds hold the entries written through ThingSpeak's
API only (services.api.thingspeak_feeds), so entry ids are always integers. Without an extension, feeds and
fields answer CSV (what the `thingspeak` Python client's fmt='csv' asks for); the channel itself answers JSON.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from services.api.deps import ReadableDatasetDep, ReadSessionDep
from services.api.thingspeak_feeds import FeedQuery, last_value, read_feed
from services.api.thingspeak_xml import channel_xml, feed_xml
from shared.errors import BadRequest, NotFound
from shared.http import JSON
from shared.models import Dataset
from shared.thingspeak import META_NAMES, STATUS, field_variables, zone
from shared.values import ValueProblem, parse_time

router = APIRouter(prefix="/channels")

MAX_RESULTS = 8000
DEFAULT_RESULTS = 100
BUCKET_MINUTES = (10, 15, 20, 30, 60, 240, 720, 1440)
AGGREGATIONS = ("timescale", "sum", "average", "median")
RANGE_PARAMS = ("results", "days", "minutes", "start", "end")
LOCATION = tuple(tag for tag, name in META_NAMES.items() if name != "status")


# parameters ----------------------------------------------------------------------------------------------------
def _integer(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _zone(params: Mapping[str, str]) -> tzinfo:
    """The zone of `timezone` (IANA name) or `offset` (hours); UTC by default."""
    if params.get("timezone"):
        return zone(params["timezone"])
    hours = _integer(params, "offset", -12, 14)
    return UTC if not hours else timezone(timedelta(hours=hours))


def _moment(params: Mapping[str, str], name: str, tz: tzinfo) -> datetime | None:
    text = params.get(name)
    if not text:
        return None
    try:
        moment = parse_time(text)
    except ValueProblem as problem:
        raise BadRequest(f"{name}: {problem} (use YYYY-MM-DD HH:NN:SS)") from None
    has_offset = text.strip()[-1:] in "Zz" or any(sign in text[10:] for sign in "+-")
    return moment if has_offset else moment.replace(tzinfo=tz)


def _aggregation(params: Mapping[str, str]) -> tuple[str | None, int | None]:
    chosen = [name for name in AGGREGATIONS if params.get(name)]
    if not chosen:
        return None, None
    if len(chosen) > 1:
        raise BadRequest(f"use one of {', '.join(AGGREGATIONS)} at a time")
    name, value = chosen[0], params[chosen[0]]
    minutes = 1440 if value == "daily" else int(value) if value.isascii() and value.isdigit() else None
    if minutes not in BUCKET_MINUTES:
        raise BadRequest(f"{name} must be one of {', '.join(map(str, BUCKET_MINUTES))} or daily")
    return name, minutes


def feed_query(dataset: Dataset, params: Mapping[str, str], tz: tzinfo) -> FeedQuery:
    """The query ThingSpeak's parameters ask for: newest 100 entries by default, at most 8000."""
    results = _integer(params, "results", 0, 1_000_000_000)
    limit = DEFAULT_RESULTS
    if any(params.get(name) for name in RANGE_PARAMS):
        limit = MAX_RESULTS
    if results is not None:
        limit = min(results, MAX_RESULTS)
    now = datetime.now(UTC)
    start, end = _moment(params, "start", tz), _moment(params, "end", tz)
    if (days := _integer(params, "days", 0, 100_000)) is not None:
        start = now - timedelta(days=days)
    if (minutes := _integer(params, "minutes", 0, 100_000_000)) is not None:
        start = now - timedelta(minutes=minutes)
    if start and end and end <= start:
        raise BadRequest("end must be after start")
    aggregate, bucket = _aggregation(params)
    origin = datetime(2000, 1, 3, tzinfo=tz)  # a midnight, so that daily buckets are local days
    return FeedQuery(
        dataset_id=dataset.id,
        tags=[*fields(dataset).values(), *META_NAMES],
        start=start,
        end=end,
        limit=limit,
        aggregate=aggregate,
        step=timedelta(minutes=bucket) if bucket else None,
        origin=origin,
        round_to=_integer(params, "round", 0, 15),
    )


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").lower() == "true"


# shapes --------------------------------------------------------------------------------------------------------
def fields(dataset: Dataset) -> dict[str, str]:
    """{"field1": tag, ...}: the dataset's field slots (shared.thingspeak.field_variables)."""
    slots = field_variables([v.tag for v in dataset.variables if v.declared], {v.tag for v in dataset.variables})
    return {f"field{n}": tag for n, tag in slots.items()}


def stamp(moment: datetime, tz: tzinfo, *, for_csv: bool = False) -> str:
    local = moment.astimezone(tz)
    if for_csv:
        return local.strftime("%Y-%m-%d %H:%M:%S ") + ("UTC" if tz is UTC else local.strftime("%z"))
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "Z" if tz is UTC else text


def channel_document(dataset: Dataset, tz: tzinfo) -> dict:
    document: dict[str, object] = {"id": dataset.id, "name": dataset.name, "description": dataset.description}
    names = {v.tag: v.name or v.tag for v in dataset.variables}
    for field, tag in fields(dataset).items():
        document[field] = names[tag]
    document.update(
        {
            "created_at": stamp(dataset.created_at, tz),
            "updated_at": stamp(dataset.updated_at, tz),
            "last_entry_id": dataset.last_entry_id or None,
        }
    )
    return document


def columns(dataset: Dataset, params: Mapping[str, str], field: int | None = None) -> list[tuple[str, int]]:
    """(name, position in the query's tags) of the columns to show, in ThingSpeak's order."""
    names = list(fields(dataset))
    shown = [(name, i) for i, name in enumerate(names) if field is None or name == f"field{field}"]
    for i, (tag, name) in enumerate(META_NAMES.items(), start=len(names)):
        if (tag in LOCATION and _flag(params, "location")) or (name == "status" and _flag(params, "status")):
            shown.append((name, i))
    return shown


def entries(rows: list[tuple], shown: list[tuple[str, int]], tz: tzinfo, aggregated: bool) -> list[dict]:
    out = []
    for row in rows:
        entry: dict[str, object] = {"created_at": stamp(row[0], tz)}
        if not aggregated:
            entry["entry_id"] = row[1]
        for name, i in shown:
            entry[name] = row[2 + i]
        out.append(entry)
    return out


def csv_response(rows: list[tuple], shown: list[tuple[str, int]], tz: tzinfo, aggregated: bool) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["created_at", *([] if aggregated else ["entry_id"]), *(name for name, _ in shown)])
    for row in rows:
        head = [stamp(row[0], tz, for_csv=True), *([] if aggregated else [row[1]])]
        writer.writerow([*head, *(row[2 + i] for _, i in shown)])
    return Response(buffer.getvalue(), media_type="text/csv")


def _field_number(dataset: Dataset, field: int) -> int:
    if f"field{field}" not in fields(dataset):
        raise NotFound(f"channel {dataset.id} has no field{field}")
    return field


# routes --------------------------------------------------------------------------------------------------------
def _feed(request: Request, dataset: Dataset, session: ReadSessionDep, field: int | None, fmt: str) -> Response:
    params = request.query_params
    tz = _zone(params)
    query = feed_query(dataset, params, tz)
    rows = read_feed(session, query)
    shown = columns(dataset, params, field)
    aggregated = query.aggregate is not None
    if fmt == "csv":
        return csv_response(rows, shown, tz, aggregated)
    feeds = entries(rows, shown, tz, aggregated)
    if fmt == "xml":
        return Response(feed_xml(channel_document(dataset, tz), feeds), media_type="application/xml")
    return JSON({"channel": channel_document(dataset, tz), "feeds": feeds})


@router.get("/{dataset_id}/feeds.json")
def feeds_json(request: Request, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    """Entries of all fields (ThingSpeak's Read Data)."""
    return _feed(request, dataset, session, None, "json")


@router.get("/{dataset_id}/feeds.csv")
@router.get("/{dataset_id}/feeds")
def feeds_csv(request: Request, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    return _feed(request, dataset, session, None, "csv")


@router.get("/{dataset_id}/feeds.xml")
def feeds_xml(request: Request, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    return _feed(request, dataset, session, None, "xml")


@router.get("/{dataset_id}/fields/{field}.json")
def field_json(request: Request, field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    """Entries of one field (ThingSpeak's Read Field)."""
    return _feed(request, dataset, session, _field_number(dataset, field), "json")


@router.get("/{dataset_id}/fields/{field}.csv")
def field_csv(request: Request, field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    return _feed(request, dataset, session, _field_number(dataset, field), "csv")


@router.get("/{dataset_id}/fields/{field}.xml")
def field_xml(request: Request, field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    return _feed(request, dataset, session, _field_number(dataset, field), "xml")


@router.get("/{dataset_id}/feeds/last.json")
def last_entry(request: Request, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    """The newest entry (ThingSpeak's Read Last Entry)."""
    params = request.query_params
    tz = _zone(params)
    rows = read_feed(
        session,
        FeedQuery(
            dataset.id, [*fields(dataset).values(), *META_NAMES], limit=1, round_to=_integer(params, "round", 0, 15)
        ),
    )
    if not rows:
        return JSON(-1)
    return JSON(entries(rows, columns(dataset, params), tz, aggregated=False)[0])


def _last_field(dataset: Dataset, field: int, session: ReadSessionDep) -> tuple | None:
    tag = fields(dataset)[f"field{_field_number(dataset, field)}"]
    if not dataset.last_entry_id:  # nothing was ever written through ThingSpeak: no entry to look for
        return None
    return last_value(session, dataset.id, tag)


@router.get("/{dataset_id}/fields/{field}/last")
@router.get("/{dataset_id}/fields/{field}/last.txt")
def last_field_text(field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    """The newest value of one field, as plain text (ThingSpeak's Read Last Field Entry)."""
    found = _last_field(dataset, field, session)
    return PlainTextResponse("-1" if found is None else found[2])


@router.get("/{dataset_id}/fields/{field}/last.json")
def last_field_json(request: Request, field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    found = _last_field(dataset, field, session)
    if found is None:
        return JSON(-1)
    moment, entry_id, text = found
    return JSON({"created_at": stamp(moment, _zone(request.query_params)), "entry_id": entry_id, f"field{field}": text})


def _data_age(field: int, dataset: Dataset, session: ReadSessionDep) -> int | None:
    found = _last_field(dataset, field, session)
    return None if found is None else max(0, int((datetime.now(UTC) - found[0]).total_seconds()))


@router.get("/{dataset_id}/fields/{field}/last_data_age.json")
def last_data_age_json(field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    """Seconds since the field's newest value (ThingSpeak's last_data_age), or -1 if it has none."""
    age = _data_age(field, dataset, session)
    return JSON(-1 if age is None else {"last_data_age": str(age), "last_data_age_units": "s"})


@router.get("/{dataset_id}/fields/{field}/last_data_age")
@router.get("/{dataset_id}/fields/{field}/last_data_age.txt")
def last_data_age_text(field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    age = _data_age(field, dataset, session)
    return PlainTextResponse(str(-1 if age is None else age))


@router.get("/{dataset_id}/status.json")
def status_json(request: Request, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    """The entries' status updates (ThingSpeak's Read Status), newest `results` (default 100), oldest first."""
    params = request.query_params
    tz = _zone(params)
    query = feed_query(dataset, params, tz)
    rows = read_feed(session, FeedQuery(dataset.id, [STATUS], start=query.start, end=query.end, limit=query.limit))
    feeds = [{"created_at": stamp(row[0], tz), "entry_id": row[1], "status": row[2]} for row in rows]
    channel = {"id": dataset.id, "name": dataset.name}
    return JSON({"channel": channel, "feeds": feeds})


@router.get("/{dataset_id}/fields/{field}")
def field_csv_plain(request: Request, field: int, dataset: ReadableDatasetDep, session: ReadSessionDep) -> Response:
    """A field without an extension: CSV, as the `thingspeak` client's fmt='csv' asks for it."""
    return _feed(request, dataset, session, _field_number(dataset, field), "csv")


@router.get("/{dataset_id}.xml")  # registered before "/{dataset_id}", which would take "7.xml" for an id
def channel_as_xml(request: Request, dataset: ReadableDatasetDep) -> Response:
    """The channel's settings as XML (the `thingspeak` client's view() with fmt='xml')."""
    return Response(channel_xml(channel_document(dataset, _zone(request.query_params))), media_type="application/xml")


@router.get("/{dataset_id}")  # decorators apply bottom-up: `.json` is registered first and wins "/7.json"
@router.get("/{dataset_id}.json")
def channel(request: Request, dataset: ReadableDatasetDep) -> Response:
    """The channel's settings: id, name, description, field names, times and last entry id."""
    return JSON(channel_document(dataset, _zone(request.query_params)))
