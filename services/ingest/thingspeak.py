"""ThingSpeak's write parameters checked and mapped to a dataset's variables (pure; no I/O).

`fieldN` is the dataset's N-th declared variable, else its variable named `fieldN` (shared.thingspeak); a
dataset's own tags are accepted by name too, and take precedence. Any other name is a new variable when the
dataset accepts new variables, else a 400 naming it. `lat`/`long`/`elevation`/`status` (in bulk
updates `latitude`/`longitude`) are stored as the entry's location and status (see shared.thingspeak), unless the
dataset has a variable of that name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo

from services.ingest.credentials import Credential
from shared.errors import BadRequest
from shared.thingspeak import ELEVATION, LATITUDE, LONGITUDE, STATUS
from shared.values import VARIABLE_RE, TimeWindow, ValueProblem, parse_time

FIELD_RE = re.compile(r"^field([1-8])$")
UPDATE_META = {"lat": LATITUDE, "long": LONGITUDE, "elevation": ELEVATION, "status": STATUS}
BULK_META = {"latitude": LATITUDE, "longitude": LONGITUDE, "elevation": ELEVATION, "status": STATUS}
# twitter/tweet: ThingTweet, which ThingSpeak libraries may send along; not a reading
UPDATE_IGNORED = frozenset({"api_key", "key", "created_at", "timezone", "twitter", "tweet"})
BULK_TIME = frozenset({"created_at", "delta_t"})
RANGES = {LATITUDE: (-90.0, 90.0), LONGITUDE: (-180.0, 180.0), ELEVATION: (-1e6, 1e6)}
CSV_COLUMNS = (
    "field1",
    "field2",
    "field3",
    "field4",
    "field5",
    "field6",
    "field7",
    "field8",
    "latitude",
    "longitude",
    "elevation",
    "status",
)
MAX_TEXT = 10_000


def parse_moment(value: object, where: str, tz: tzinfo, window: TimeWindow) -> datetime:
    """ISO 8601, MySQL (`2014-12-31 23:59:59`, maybe `-0500`) or epoch seconds; no offset means `tz`."""
    try:
        if (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip())
        ):
            moment = datetime.fromtimestamp(float(value), UTC)
        elif isinstance(value, str) and _has_offset(value):
            moment = _with_offset(value)
        else:
            moment = parse_time(value).replace(tzinfo=tz)
        return window.check(moment)
    except (ValueProblem, OverflowError, OSError, ValueError) as problem:
        raise BadRequest(f"{where}: {problem}") from None


def _with_offset(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueProblem:
        try:
            return datetime.strptime(text.strip().replace("T", " ", 1), "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            raise ValueProblem(f"time {text!r} is not ISO 8601, MySQL or epoch seconds") from None


def _has_offset(text: str) -> bool:
    stripped = text.strip()
    return stripped[-1:] in ("Z", "z") or re.search(r"[+-]\d\d:?\d\d$", stripped[10:]) is not None


def text_of(value: object, where: str) -> str | None:
    """A pushed value as ThingSpeak keeps it: text; None for blank (no value)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(f"{where}: numbers must be finite")
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise BadRequest(f"{where}: longer than {MAX_TEXT} characters")
        if "\x00" in value:
            raise BadRequest(f"{where}: text cannot contain NUL characters")
        return value
    raise BadRequest(f"{where}: must be a number or a string")


def resolve(name: str, credential: Credential, meta: Mapping[str, str]) -> str:
    """The variable a parameter name writes; 400 for a name the dataset does not take."""
    if name in credential.known:
        return name
    if match := FIELD_RE.match(name):
        number = int(match.group(1))
        if number in credential.fields:
            return credential.fields[number]
        if credential.accepts_new:
            return name
        raise BadRequest(
            f"{name}: this dataset has no {name} and does not accept new variables; "
            f"declare it or turn on accept new variables"
        )
    if name in meta:
        return meta[name]
    if credential.accepts_new and VARIABLE_RE.match(name):
        return name
    slots = f"field1..field{max(credential.fields)}, " if credential.fields else ""
    if credential.accepts_new:
        raise BadRequest(
            f"unknown field {name!r} is not a valid variable name: 1-200 of letters, digits and _ . - : / @"
        )
    raise BadRequest(
        f"unknown field {name!r}: use {slots}a variable's tag, or {', '.join(meta)} "
        "(this dataset does not accept new variables)"
    )


def push_values(
    params: Mapping[str, object],
    credential: Credential,
    meta: Mapping[str, str],
    ignored: frozenset[str],
    where: str = "",
) -> dict[str, str]:
    """{variable: text} of one ThingSpeak entry's parameters; location values are checked to be numbers in range."""
    values: dict[str, str] = {}
    for name, value in params.items():
        if name in ignored:
            continue
        label = f"{where}{name}"
        text = text_of(value, label)
        if text is None:  # blank: ThingSpeak stores no value (CSV rows leave unused columns empty)
            continue
        variable = resolve(name, credential, meta)
        if variable in RANGES:
            _check_range(text, variable, label)
        values[variable] = text
    return values


def _check_range(text: str, variable: str, label: str) -> None:
    low, high = RANGES[variable]
    try:
        number = float(text)
    except ValueError:
        raise BadRequest(f"{label}: {text!r} is not a number") from None
    if not low <= number <= high:
        raise BadRequest(f"{label}: {number} is outside [{low:g}, {high:g}]")


def csv_updates(text: str, time_format: str) -> list[dict[str, str]]:
    """The `updates` of a bulk CSV write (`TIME,F1,..,F8,LAT,LONG,ELEV,STATUS|...`) as bulk JSON updates."""
    if time_format not in ("absolute", "relative"):
        raise BadRequest("time_format must be absolute or relative")
    time_key = "created_at" if time_format == "absolute" else "delta_t"
    updates = []
    for index, line in enumerate(part for part in text.split("|") if part.strip()):
        cells = line.split(",", len(CSV_COLUMNS))  # the status, last, may itself hold commas
        update = {time_key: cells[0].strip()}
        if len(cells) > len(CSV_COLUMNS) + 1:
            raise BadRequest(f"updates[{index}]: more than {len(CSV_COLUMNS) + 1} values")
        for column, cell in zip(CSV_COLUMNS, cells[1:], strict=False):
            update[column] = cell if column == "status" else cell.strip()
        updates.append(update)
    return updates


def bulk_entries(updates: object, credential: Credential, tz: tzinfo, window: TimeWindow, limit: int) -> list[dict]:
    """Checked bulk updates as [{"at": ISO} or {"dt": seconds}, "values": {variable: text}}]; one time kind."""
    if not isinstance(updates, list) or not updates:
        raise BadRequest("updates must be a non-empty array")
    if len(updates) > limit:
        raise BadRequest(f"{len(updates)} updates in one request; at most {limit}")
    kinds: set[str] = set()
    entries = []
    for index, update in enumerate(updates):
        where = f"updates[{index}]"
        if not isinstance(update, dict):
            raise BadRequest(f"{where} must be an object")
        given = BULK_TIME & update.keys()
        if len(given) != 1:
            raise BadRequest(f"{where}: give exactly one of created_at or delta_t")
        kinds |= given
        if "created_at" in given:
            entry: dict = {"at": parse_moment(update["created_at"], f"{where}.created_at", tz, window).isoformat()}
        else:
            entry = {"dt": _delta(update["delta_t"], f"{where}.delta_t", first=index == 0)}
        entry["values"] = push_values(update, credential, BULK_META, BULK_TIME, f"{where}.")
        if not entry["values"]:
            raise BadRequest(f"{where}: no values")
        entries.append(entry)
    if len(kinds) > 1:
        raise BadRequest("updates mix created_at and delta_t; use one of them for the whole request")
    return entries


def _delta(value: object, where: str, *, first: bool) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadRequest(f"{where}: must be a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not first) or seconds > 10 * 365 * 86_400:
        raise BadRequest(f"{where}: must be a positive number of seconds (0 only for the first update)")
    return seconds
