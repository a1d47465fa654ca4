"""AutoPi uploads: a JSON array of records, each with a type `@t`, a time `@ts` and any other fields.

Every other field becomes a variable `<@t>.<path>` (nested objects flattened, arrays by index), keeping
its JSON type; records whose type starts with `event.` are also kept as events with their `@tag`.
A record that cannot be stored is rejected on its own, and the rest of the upload is kept; so is a record that
would register a variable in a dataset that does not accept new ones (the message then lists its variables).
"""

from __future__ import annotations

import orjson

from services.worker.normalize.rows import NAME_MAX, NO_TAGS, Batch, Context, KeptNames, raw_json
from shared.queue import QueueMessage
from shared.values import VARIABLE_RE, ValueProblem, leaves, parse_time

TYPE, TIME, TAG = "@t", "@ts", "@tag"
EVENT_PREFIX = "event."


def _check_variable(variable: str, prefix: str, path: str) -> None:
    if not VARIABLE_RE.match(variable):
        raise ValueProblem(f"field {path!r} of type {prefix[:-1]!r} does not make a valid variable name {variable!r}")


VARIABLES = KeptNames(_check_variable)  # per record type: field path -> `type.path`


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
    for record in records:
        rows, events = len(batch.rows), len(batch.events)
        try:
            add_record(record, dataset_id, device, context, batch, known)
        except ValueProblem as problem:
            del batch.rows[rows:], batch.events[events:]
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
