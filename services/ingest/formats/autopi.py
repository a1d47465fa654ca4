"""AutoPi's upload: a JSON array of `@t`/`@ts` records from one device, checked here only for shape and count.

The records themselves are checked one by one in the worker, so that one bad record is kept aside without
refusing the rest: the dongle resends anything answered 4xx, forever. For the same reason records with
unknown variables (in a dataset closed to new ones) are set aside there, naming the variable.
"""

from __future__ import annotations

from typing import Any

from services.ingest.credentials import Credential
from services.ingest.formats.base import IngestFormat, Limits, json_document
from shared.errors import BadRequest, PayloadTooLarge
from shared.queue import QueueMessage, Source, make_message


def accept(credential: Credential, payload: bytes, limits: Limits, *, source: Source, **options: Any) -> QueueMessage:
    records = json_document(payload)
    if not isinstance(records, list):
        raise BadRequest(f"body must be a JSON array of records, not a JSON {type(records).__name__}")
    if len(records) > limits.max_records:
        raise PayloadTooLarge(f"{len(records)} records in one request; at most {limits.max_records}")
    # a dataset closed to new variables: the worker sets aside records that would register one
    params = None if credential.accepts_new else {"variables": list(credential.variables)}
    return make_message(
        "autopi", credential.dataset_id, payload.decode(), source=source, device=credential.device, params=params
    )


FORMAT = IngestFormat("autopi", accept, topic="autopi")
