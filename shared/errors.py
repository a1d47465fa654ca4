"""The errors Ownstream answers clients with; each knows its HTTP status."""

from __future__ import annotations


class OwnstreamError(Exception):
    """Base class: an error with an HTTP status, a short code and a human detail."""

    status_code = 500
    error = "internal_error"

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.error)
        self.detail = detail
        self.headers = headers

    def body(self) -> dict[str, str]:
        return {"error": self.error, "detail": self.detail}


class BadRequest(OwnstreamError):
    status_code = 400
    error = "bad_request"


class Unauthorized(OwnstreamError):
    status_code = 401
    error = "unauthorized"


class Forbidden(OwnstreamError):
    status_code = 403
    error = "forbidden"


class NotFound(OwnstreamError):
    status_code = 404
    error = "not_found"


class Conflict(OwnstreamError):
    status_code = 409
    error = "conflict"


class PayloadTooLarge(OwnstreamError):
    status_code = 413
    error = "payload_too_large"


class RateLimited(OwnstreamError):
    status_code = 429
    error = "rate_limited"


class NotSupported(OwnstreamError):
    status_code = 501
    error = "not_supported"


class QueueUnavailable(OwnstreamError):
    status_code = 503
    error = "queue_unavailable"


class DatabaseUnavailable(OwnstreamError):
    status_code = 503
    error = "database_unavailable"


class BrokerUnavailable(OwnstreamError):
    status_code = 503
    error = "broker_unavailable"


class QueueFull(OwnstreamError):
    """The queue holds more waiting jobs than the configured backlog limit: send again after Retry-After."""

    status_code = 503
    error = "queue_full"
