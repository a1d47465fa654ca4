"""AutoPi uploads: a JSON array of records, each with a type `@t`, a time `@ts` and any other fields.

Every other field becomes a variable `<@t>.<path>` (nested objects flattened, arrays by index), keeping
its JSON type; records whose type starts with `event.` are also kept as events with their `@tag`.
A record that cannot be stored is rejected on its own, and the rest of the upload is kept; so is a record that
would register a variable in a dataset that does not accept new ones (the message then lists its variables).

Uploads repeat a few record shapes (`obd.bat` with `voltage`, ...) hundreds of times, each with one or two values,
and the general path (`add_record`) cost 1.75 us a value against native JSON's 0.37. So the first record of each
type (and key count) in an upload lays out its fields and their variables once (a `Layout`), and the records after
it with the same keys take them from there, checking only their time and values (0.84 us a value). Anything else
(events, nested values, strings and booleans, a time or value to refuse) goes the general way, which decides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

from services.worker.normalize.rows import NAME_MAX, NO_TAGS, Batch, Context, KeptNames, Row, raw_json
from shared.queue import QueueMessage
from shared.values import INT64_MAX, INT64_MIN, NESTED, VARIABLE_RE, ValueProblem, leaves, parse_time

TYPE, TIME, TAG = "@t", "@ts", "@tag"
EVENT_PREFIX = "event."


def _check_variable(variable: str, prefix: str, path: str) -> None:
    if not VARIABLE_RE.match(variable):
        raise ValueProblem(f"field {path!r} of type {prefix[:-1]!r} does not make a valid variable name {variable!r}")


VARIABLES = KeptNames(_check_variable)  # per record type: field path -> `type.path`

_new = tuple.__new__  # a Row at a plain tuple's cost, as in rows.py
NOT_NUM = (None, None, None, None)  # a float row's v_int, v_str, v_bool and entry_id
NOT_INT = (None, None, None)  # an integer row's v_str, v_bool and entry_id
_fromisoformat = datetime.fromisoformat


LaidOut = tuple[tuple[str, tuple[int, str, str, str]], ...]  # (field, its rows' dataset, device, variable, tags)


class Layout(NamedTuple):
    """A flat record's shape: how many keys it has (`@t` and `@ts` included) and, per field, the start of its rows
    (dataset, device, variable, tags); fields is None when records of that shape take the general path."""

    keys: int
    fields: LaidOut | None


def layout(record: dict, kind: str, dataset_id: int, device: str, known: frozenset[str] | None) -> Layout:
    """The layout of `record`, of type `kind`, from `device`. Its fields are None for a record the general path must
    take: an event, a nested value, no `@ts`, or a field that makes no variable the dataset takes."""
    general = Layout(len(record), None)
    if kind.startswith(EVENT_PREFIX) or len(kind) > NAME_MAX or TIME not in record:
        return general
    names = VARIABLES.table(kind)
    fields = []
    for field, value in record.items():
        if field in (TYPE, TIME):
            continue
        if type(value) in NESTED:
            return general
        try:
            variable = names.get(field) or VARIABLES.make(names, kind + ".", field)
        except ValueProblem:
            return general
        if known is not None and variable not in known:
            return general
        fields.append((field, (dataset_id, device, variable, NO_TAGS)))
    return Layout(len(record), tuple(fields))


def _add_laid_out(record: dict, fields: LaidOut, earliest: datetime, latest: datetime, append: Callable) -> bool:
    """Append the rows of `record`, whose type and key count match `fields`' layout; False (some rows perhaps
    appended) when it needs the general path: other keys (a KeyError), a time not ISO-8601 or outside the window,
    or a value other than a number or null."""
    text = record.get(TIME)
    if type(text) is not str:
        return False
    try:
        moment = _fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if not earliest <= moment <= latest:
            return False
        for field, head in fields:
            value = record[field]
            if type(value) is float and value - value == 0.0:  # finite
                append(_new(Row, (*head, moment, value, *NOT_NUM)))
            elif type(value) is int and INT64_MIN <= value <= INT64_MAX:
                append(_new(Row, (*head, moment, None, value, *NOT_INT)))
            elif value is not None:  # JSON null: the device had no value to send
                return False
    except (ValueError, KeyError):
        return False
    return True


def normalize(message: QueueMessage, context: Context, batch: Batch) -> None:
    try:
        records = orjson.loads(message["payload"])
    except orjson.JSONDecodeError:
        records = None
    if not isinstance(records, list):
        batch.reject(message, "body is not a JSON array of records", message["payload"])
        return
    dataset_id, device = message["dataset_id"], message.get("device") or ""
    listed = (message.get("params") or {}).get("variables")
    known = None if listed is None else frozenset(listed)
    layouts: dict[str, Layout] = {}  # record type -> the layout of its latest record
    laid_out = len(device) <= NAME_MAX and "\x00" not in device  # else add_record refuses every record, saying why
    earliest, latest = context.window.earliest, context.window.latest
    rows = batch.rows
    append = rows.append
    for record in records:
        mark = len(rows)
        if laid_out and type(record) is dict and type(kind := record.get(TYPE)) is str and kind:
            shape = layouts.get(kind)
            if shape is None or shape.keys != len(record):
                shape = layouts[kind] = layout(record, kind, dataset_id, device, known)
            if shape.fields is not None and _add_laid_out(record, shape.fields, earliest, latest, append):
                continue
            del rows[mark:]
        events = len(batch.events)
        try:
            add_record(record, dataset_id, device, context, batch, known)
        except ValueProblem as problem:
            del rows[mark:], batch.events[events:]
            batch.reject(message, str(problem), raw_json(record))  # raw JSON, strings quoted


def add_record(
    record: object, dataset_id: int, device: str, context: Context, batch: Batch, known: frozenset[str] | None = None
) -> None:
    """Rows (and an event) of one record; raises ValueProblem naming why it cannot be stored.

    `known`: the only variables the dataset takes (None: it accepts new ones).
    """
    if not isinstance(record, dict):
        raise ValueProblem(f"a record must be a JSON object, not {type(record).__name__}")
    kind = record.get(TYPE)
    if not isinstance(kind, str) or not kind:
        raise ValueProblem("record has no @t (type)")
    if len(kind) > NAME_MAX:
        raise ValueProblem(f"@t is longer than {NAME_MAX} characters")
    try:
        moment = context.window.check(parse_time(record.get(TIME)))
    except ValueProblem as problem:
        raise ValueProblem(f"@ts: {problem}") from None
    fields = dict(record)
    del fields[TYPE]
    fields.pop(TIME, None)
    # first: refuses nesting too deep to keep; flat records (the common case) skip the generator
    paths = list(leaves(fields))
    if kind.startswith(EVENT_PREFIX):
        tag = fields.get(TAG, "")
        if not isinstance(tag, str):
            raise ValueProblem("@tag must be a string")
        batch.event(dataset_id, device, kind, moment, tag, {k: v for k, v in fields.items() if k != TAG})
    names = VARIABLES.table(kind)
    named = []
    for path, value in paths:
        if value is None:  # JSON null: the device had no value to send
            continue
        variable = names.get(path) or VARIABLES.make(names, kind + ".", path)
        if known is not None and variable not in known:
            raise ValueProblem(f"unknown variable {variable!r}: this dataset does not accept new variables")
        named.append((variable, value))
    batch.add_all(dataset_id, device, NO_TAGS, moment, named)
