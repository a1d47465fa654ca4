"""Driving the dashboard's HTML forms in tests: CSRF tokens from pages, form login."""

from __future__ import annotations

import re

from tests.support.factories import PASSWORD

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client, path: str = "/login") -> str:
    """This client session's CSRF token, read from a page's form."""
    response = client.get(path)
    match = TOKEN_RE.search(response.text)
    assert match, f"no CSRF token on {path}: {response.status_code} {response.text[:300]}"
    return match.group(1)


def post_form(client, path: str, data: dict | list | None = None, *, token_page: str = "/dashboard"):
    """POST a form as the browser would: with the session's CSRF token, redirects not followed."""
    fields = list(data.items()) if isinstance(data, dict) else list(data or [])
    fields.append(("csrf_token", csrf_from(client, token_page)))
    return client.post(path, data=_grouped(fields), follow_redirects=False)


def _grouped(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in fields:
        grouped.setdefault(name, []).append(value)
    return grouped


def form_login(client, username: str = "alice", password: str = PASSWORD):
    client.cookies.clear()
    return post_form(client, "/login", {"username": username, "password": password}, token_page="/login")


def keys_on(html: str) -> dict[str, str]:
    """The keys a page shows once, by kind."""
    return dict(re.findall(r'<code class="secret" data-key="(read|write)"[^>]*>([0-9a-f]+)</code>', html))
