"""Security headers on every response: a strict Content-Security-Policy, no framing except embeddable charts."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EMBED_PREFIX = "/embed/"
# FastAPI's interactive API docs (Swagger UI, served from static/vendor) start with an inline script: they keep
# their own rules.
UNPOLICED = ("/docs",)

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers a response to `path` gets."""
    if path.startswith(UNPOLICED):
        return [(b"x-frame-options", b"DENY")]
    embed = path.startswith(EMBED_PREFIX)
    headers = [
        (b"content-security-policy", POLICY.format(ancestors="*" if embed else "'none'").encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]
    if not embed:
        headers.append((b"x-frame-options", b"DENY"))
    return headers


class SecurityHeaders:
    """ASGI middleware adding `headers_for(path)` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *(h for h in extra if h[0] not in present)],
                }
            await send(message)

        await self.app(scope, receive, with_headers)
