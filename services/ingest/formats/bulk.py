"""ThingSpeak's bulk updates (JSON or CSV over HTTP), each with created_at or delta_t: one message, many entry ids."""

from __future__ import annotations

from typing import Any

from services.ingest import thingspeak as ts
from services.ingest.credentials import Credential
from services.ingest.formats.base import IngestFormat, Limits
from shared.queue import QueueMessage, Source, make_message
from shared.thingspeak import zone


def accept(credential: Credential, payload: object, limits: Limits, *, source: Source, **options: Any) -> QueueMessage:
    """The `updates` list (option: `timezone`) as one message asking for as many entry ids."""
    tz = zone(options.get("timezone"))
    entries = ts.bulk_entries(payload, credential, tz, limits.window(), limits.max_records)
    return make_message(
        "bulk",
        credential.dataset_id,
        {"entries": entries},
        source=source,
        device=credential.device,
        params={"entries": len(entries)},
    )


FORMAT = IngestFormat("bulk", accept)
