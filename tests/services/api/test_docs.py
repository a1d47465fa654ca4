"""/docs works offline: Swagger UI and its stylesheet come from this server (static/vendor), nothing from a CDN."""

from __future__ import annotations

import re


def test_docs_page_loads_only_this_servers_files_and_they_are_there(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", page.text
    )
    assert "/static/vendor/swagger-ui-bundle.js" in linked and "/openapi.json" in linked
    assert all(url.startswith("/") and not url.startswith("//") for url in linked), linked
    for url in linked:
        response = client.get(url)
        assert response.status_code == 200 and response.content, url
    assert client.get("/redoc").status_code == 404  # it would need a CDN
