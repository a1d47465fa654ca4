"""MQTT topic forms: which ingest format a topic asks for, and the key or token it carries. Pure parsing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from services.ingest.formats import TOPICS

# The roots devices publish under; the broker's ACL lets anonymous clients publish here and nowhere else.
TOPIC_ROOTS = ("channels", "devices", "datasets")
# Devices with broker accounts (dynamic security) publish here, each only under its own dataset and device id,
# in any format that names a topic (services/ingest/formats: IngestFormat.topic).
REGISTERED_ROOT = "registered"

_DATASET_ID = re.compile(r"^[1-9][0-9]{0,9}$")
_FIELD = re.compile(r"^field([1-9][0-9]?)$")
# dataset ids are Postgres integers
_MAX_DATASET_ID = 2**31 - 1


class TopicError(ValueError):
    """A topic that names no Ownstream form; the message says which forms exist."""


@dataclass(frozen=True, slots=True)
class Route:
    """What one topic asks for: the format, the key or device token, and the dataset it names (if any).

    A `registered/...` topic carries no key: it names the dataset and `device` the broker let publish there.
    """

    format: str  # a name in services/ingest/formats FORMATS
    key: str
    dataset_id: int | None = None
    field: str | None = None  # the variable of a single-field ThingSpeak publish
    device: str | None = None  # the device of a registered/... topic


KEYED_FORMS = (
    "channels/{id}/publish/{write key}, channels/{id}/publish/fields/field{N}/{write key}, "
    "devices/{token}/autopi, devices/{token}/telemetry, datasets/{id}/influx/{write key}"
)


def forms() -> str:
    """The topic forms, for error messages."""
    return f"{KEYED_FORMS}, registered/{{id}}/{{device}}/{'|'.join(TOPICS)}"


def share_group(bridge_password: str, install: str = "") -> str:
    """The bridges' shared-subscription group, derived from their password so that no device can join it, and
    from their install's id (shared.bridge_lease.install_id) so that two installs on one broker never share one.

    Mosquitto 2.0's ACL file does not check subscriptions (only deliveries): an anonymous client that joined
    the bridges' group would be handed its round-robin share of messages and, denied reading them, lose them.
    A group name only holders of the bridge password can compute keeps that door shut. Bridges of two installs
    in one group would likewise take each other's share of messages and drop them as unknown keys.
    """
    seed = f"ownstream share group:{bridge_password}" + (f"|{install}" if install else "")
    return "ownstream-" + hashlib.sha256(seed.encode()).hexdigest()[:20]


def subscriptions(group: str, registered: bool = False) -> list[str]:
    """The shared-subscription filters a bridge subscribes to: one per topic root.

    `registered/` only when the broker authenticates devices (dynamic security): the bridge believes its topics.
    """
    roots = (*TOPIC_ROOTS, REGISTERED_ROOT) if registered else TOPIC_ROOTS
    return [f"$share/{group}/{root}/#" for root in roots]


def _dataset_id(text: str) -> int:
    if not _DATASET_ID.match(text) or int(text) > _MAX_DATASET_ID:
        raise TopicError(f"{text!r} is not a dataset id")
    return int(text)


def parse_topic(topic: str) -> Route:
    """The route of `topic`; raises TopicError for a topic of no known form or with an empty key."""
    parts = topic.split("/")
    match parts:
        case ["channels", dataset, "publish", key] if key:
            return Route("push", key, _dataset_id(dataset))
        case ["channels", dataset, "publish", "fields", field, key] if key:
            if not _FIELD.match(field):
                raise TopicError(f"{field!r} is not field1, field2, ...")
            return Route("push", key, _dataset_id(dataset), field)
        case ["devices", token, "autopi"] if token:
            return Route("autopi", token)
        case ["devices", token, "telemetry"] if token:
            return Route("telemetry", token)
        case ["datasets", dataset, "influx", key] if key:
            return Route("lineproto", key, _dataset_id(dataset))
        case ["registered", dataset, device, form] if device and form in TOPICS:
            return Route(TOPICS[form], "", _dataset_id(dataset), device=device)
    raise TopicError(f"topic {redact(topic)!r} is not one of: {forms()}")


def redact(topic: str) -> str:
    """`topic` with its key or token replaced, safe to log or to record with a rejected message.

    A topic of no known shape may hold a key anywhere, so only its first level and its depth are shown.
    """
    parts = topic.split("/")
    root = parts[0]
    if root == "devices" and len(parts) == 3:
        parts[1] = "***"
    elif (root == "channels" and len(parts) in (4, 6)) or (root == "datasets" and len(parts) == 4):
        parts[-1] = "***"
    elif root != "registered":  # registered/{dataset}/{device}/{form} holds no secret
        return f"{root}/... ({len(parts)} levels, not shown)"
    return "/".join(parts)
