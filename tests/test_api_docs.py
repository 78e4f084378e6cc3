"""The interactive API docs work under the strict CSP: no inline script, assets served locally."""

from __future__ import annotations

import re


def test_swagger_ui_loads_its_script_from_a_url(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert not re.search(r"<script>(?!</script>)", html), "inline scripts are blocked by the CSP"
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert "/api/docs/?script=" in sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
    assert "SwaggerUIBundle" in client.get("/api/docs/?script=").content.decode()
