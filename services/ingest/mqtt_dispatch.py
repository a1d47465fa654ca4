"""One MQTT message to one queue message: route by topic, authenticate the key it carries, accept it in the
format the topic names (services/ingest/formats).

A `registered/{dataset}/{device}/...` topic carries no key: the broker authenticated the publisher as that
device (dynamic security), and the registry, looked up here, says whether the device is still registered.

A message its format refuses has no one to answer, so it becomes a "reject" queue message (stored in the
dataset's rejected records by the worker, through the same queue) when the dataset is known, or a counted,
logged drop when it is not. Errors that will pass (the database away) are raised, so the batch is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from services.ingest.credentials import Credential, require_writer
from services.ingest.formats import FORMATS, Limits
from services.ingest.topics import Route, TopicError, parse_topic, redact
from shared.config import Settings
from shared.errors import OwnstreamError, RateLimited, Unauthorized
from shared.queue import QueueMessage, make_message

log = logging.getLogger(__name__)

RAW_LIMIT = 4096  # characters of a refused payload kept in its rejected record


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: a queue message to enqueue (accepted or reject), or a drop."""

    message: QueueMessage | None
    verdict: str  # "accepted", "rejected" or "dropped"
    reason: str = ""  # short label for metrics: "unauthorized", "bad_payload", "bad_topic", ...


KEYLESS_PER_MINUTE = 60  # refusals of wrong-key messages recorded per dataset and minute (per bridge)


class RateCap:
    """At most `limit` events per key in each `window_s` (fixed windows; in memory, per process)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._windows: dict[int, tuple[float, int]] = {}

    def allow(self, key: int, now: float) -> bool:
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window_s:
            start, count = now, 0
        if len(self._windows) > 10_000:
            self._windows.clear()
        self._windows[key] = (start, count + 1)
        return count < self.limit


class Dispatcher:
    """Turns (topic, payload) into an Outcome with the same formats and credentials as HTTP."""

    def __init__(
        self,
        settings: Settings,
        resolve: Callable[[str], Credential | None],
        resolve_device: Callable[[int, str], Credential | None] | None = None,
        limit: Callable[[Credential], None] | None = None,
    ) -> None:
        self.settings = settings
        self.limits = Limits.of(settings)
        self.resolve = resolve
        self.resolve_device = resolve_device
        self.limit = limit  # the ingest rate limit per key (raises RateLimited), shared with HTTP through Redis
        self._keyless = RateCap(KEYLESS_PER_MINUTE, 60.0)
        self._limited_logs = RateCap(1, 60.0)  # one log line per dataset and minute for messages over the rate

    def dispatch(self, topic: str, payload: bytes, received_at: float) -> Outcome:
        try:
            route = parse_topic(topic)
        except TopicError as error:
            return self._drop("bad_topic", str(error))
        credential = self._credential(route)
        try:
            credential = self._authorize(route, credential)
        except Unauthorized as error:
            if route.dataset_id is None and credential is not None:
                # a dataset's read key on a devices/ topic: its owner is told, in the dataset's rejected records
                route = replace(route, dataset_id=credential.dataset_id)
            if route.dataset_id is None:
                return self._drop("unauthorized", f"{redact(topic)}: {error.detail}")
            return self._reject(route, None, topic, payload, received_at, "unauthorized", error.detail)
        if self.limit is not None:
            try:
                self.limit(credential)
            except RateLimited as error:
                # The broker has acknowledged it to the device already: dropped and counted, never queued (a
                # rejected record for each would cost what the limit is there to save).
                if self._limited_logs.allow(credential.dataset_id, received_at):
                    log.warning("dropping messages on %s: %s", redact(topic), error.detail)
                return Outcome(None, "dropped", "rate_limited")
        if len(payload) > self.settings.max_body_bytes:
            reason = f"payload of {len(payload)} bytes is over the limit of {self.settings.max_body_bytes}"
            return self._reject(route, credential, topic, payload, received_at, "too_large", reason)
        try:
            message = self._accept(route, credential, payload)
        except OwnstreamError as error:
            return self._reject(route, credential, topic, payload, received_at, "bad_payload", error.detail)
        message["received_at"] = received_at
        return Outcome(message, "accepted")

    def _credential(self, route: Route) -> Credential | None:
        if route.device is None:
            return self.resolve(route.key)
        if self.resolve_device is None:  # this bridge does not trust the broker's accounts
            return None
        assert route.dataset_id is not None
        return self.resolve_device(route.dataset_id, route.device)

    def _authorize(self, route: Route, credential: Credential | None) -> Credential:
        if route.device is not None:
            if credential is None:
                raise Unauthorized(f"device {route.device!r} is not registered in dataset {route.dataset_id}")
            return credential
        # devices/{token}/... takes what HTTP takes: a device token or the dataset's write key (no device then)
        return require_writer(credential, route.dataset_id)

    def _accept(self, route: Route, credential: Credential, payload: bytes) -> QueueMessage:
        fmt = FORMATS[route.format]
        return fmt.accept(credential, fmt.from_mqtt(payload, route.field), self.limits, source="mqtt")

    def _reject(
        self,
        route: Route,
        credential: Credential | None,
        topic: str,
        payload: bytes,
        received_at: float,
        label: str,
        reason: str,
    ) -> Outcome:
        dataset_id = credential.dataset_id if credential is not None else route.dataset_id
        assert dataset_id is not None
        if credential is None:
            # Anyone can publish a wrong key naming any dataset: record that it happened, at a bounded rate,
            # but never keep what such a sender wrote in someone else's dataset.
            if not self._keyless.allow(dataset_id, received_at):
                return self._drop("unauthorized", f"{redact(topic)}: {reason} (over the rate of recorded refusals)")
            raw = f"(payload of {len(payload)} bytes not kept: the key was not valid)"
        else:
            raw = payload[:RAW_LIMIT].decode("utf-8", "replace")
        params = {"reason": reason, "format": route.format, "topic": redact(topic)}
        device = credential.device if credential is not None else route.device
        message = make_message(
            "reject", dataset_id, raw, source="mqtt", device=device, received_at=received_at, params=params
        )
        log.info("rejected message on %s for dataset %s: %s", redact(topic), dataset_id, reason)
        return Outcome(message, "rejected", label)

    @staticmethod
    def _drop(label: str, reason: str) -> Outcome:
        log.warning("dropped message: %s", reason)
        return Outcome(None, "dropped", label)
