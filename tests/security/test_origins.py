"""Origin checks compare scheme, host and port (omni/security/origins.py, used by the gateway's
CORS and DNS-rebinding check): a pattern's port matches digits only, so text after the host such
as ``@evil.example`` never matches."""

from __future__ import annotations

import httpx2
import pytest

from omni.security.origins import origin_allowed, origin_matches, parse_origin
from tests.gateway import rawmcp
from tests.gateway.world import make_tenant

DEFAULTS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:5173",
        "http://127.0.0.1",  # the default port is a port too
        "http://localhost:6274",
        "HTTP://LOCALHOST:6274",
        "http://[::1]:8080",
    ],
)
def test_default_patterns_allow_local_origins(origin):
    assert origin_allowed(origin, DEFAULTS)


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999@evil.example",  # user info: the host is evil.example
        "http://127.0.0.1:@evil.example",
        "http://127.0.0.1:80.evil.example",
        "http://127.0.0.1:9999/path",
        "http://127.0.0.1:99999",  # not a port
        "http://127.0.0.1:80x",
        "http://127.0.0.1.evil.example:80",
        "http://localhost.evil.example:3000",
        "https://127.0.0.1:5173",  # another scheme
        "ws://localhost:3000",
        "http://[::1].evil.example:80",
        "null",
        "",
        "http://evil.example",
    ],
)
def test_default_patterns_refuse_lookalikes(origin):
    assert not origin_allowed(origin, DEFAULTS)


def test_exact_ports_and_wildcard_hosts():
    assert origin_matches("https://app.example.com", "https://app.example.com")
    assert origin_matches("https://app.example.com:443", "https://app.example.com")
    assert not origin_matches("https://app.example.com:8443", "https://app.example.com")
    assert origin_matches("https://app.example.com:8443", "https://app.example.com:8443")
    assert not origin_matches("http://app.example.com", "https://app.example.com")
    assert origin_matches("https://a.b.example.com", "https://*.example.com")
    assert not origin_matches("https://example.com.evil.test", "https://*.example.com")
    assert not origin_matches("https://evil.test/.example.com", "https://*.example.com")
    assert origin_matches("https://anything.test:1", "*")  # refused by the system check E002
    assert parse_origin("http://127.0.0.1:9999@evil.example") is None


@pytest.mark.live
def test_gateway_refuses_a_lookalike_origin(live_server, committed):
    tenant = make_tenant("origin")
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    evil = "http://127.0.0.1:9999@evil.example"
    refused = rawmcp.post(live_server.mcp_url, init, key=tenant.key, headers={"Origin": evil})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    preflight = httpx2.options(
        live_server.mcp_url, headers={"Origin": evil, "Access-Control-Request-Method": "POST"}, timeout=10
    )
    assert "access-control-allow-origin" not in preflight.headers
    good = rawmcp.post(live_server.mcp_url, init, key=tenant.key, headers={"Origin": "http://127.0.0.1:5173"})
    assert good.status_code == 200
    assert good.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
