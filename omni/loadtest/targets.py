"""Where a run may send load: this platform's gateway endpoint, or a server the organization
registered itself and may use. Nothing else.

- ``gateway``: ``LOADTEST_GATEWAY_URL`` (or the ``base_url`` the command and tests pass) + ``/mcp``
  (``/sse`` in mode sse), authenticated with the run's own API key of each organization.
- ``server:<name>`` (and ``direct: <name>``): an enabled server of the organization's catalogue
  (its own, or a global one it does not override). A built-in server is served by the shard itself
  on a loopback port (``Endpoint.inprocess_server``); an HTTP server goes through the egress policy
  (servers of the organization) and every request is signed like the gateway signs them; stdio
  servers are refused (a load generator does not start commands).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from omni.gateway.signing import ORG_META_KEY
from omni.loadtest.errors import RunRefused
from omni.registry.models import ServerConnection
from omni.registry.services import effective_servers
from omni.security.egress import EgressDenied, check_url


def gateway_url(mode: str, base_url: str | None = None) -> str:
    base = (base_url or settings.LOADTEST_GATEWAY_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise RunRefused(f"the gateway URL {base!r} is not an http:// or https:// URL")
    return f"{base}/sse" if mode == "sse" else f"{base}/mcp"


def server_name(target: str) -> str | None:
    """``"server:utilities"`` -> ``"utilities"``; None for ``"gateway"``."""
    return target.partition(":")[2] if target.startswith("server:") else None


def find_server(org: Any, name: str) -> ServerConnection:
    """The enabled server ``name`` that ``org`` uses; ``RunRefused`` when it may not be measured."""
    server = next((s for s in effective_servers(org) if s.name == name), None)
    if server is None:
        raise RunRefused(f"organization {org.slug} has no enabled MCP server called {name!r}")
    transport = ServerConnection.Transport
    if server.transport == transport.STDIO:
        raise RunRefused(
            f"server {name!r} runs as a local command (stdio): load tests measure HTTP and built-in "
            "servers only; measure it through the gateway instead"
        )
    if server.transport in (transport.STREAMABLE_HTTP, transport.SSE) and server.organization_id is not None:
        try:
            check_url(server.url)
        except EgressDenied as exc:
            raise RunRefused(f"server {name!r}: its URL is refused by the egress policy ({exc})") from None
    return server


def server_endpoint(org: Any, name: str, weight: float) -> dict[str, Any]:
    """The ``contracts.Endpoint`` of ``org``'s server ``name`` measured directly (no credential of
    the run: the server's own bearer token, and the gateway's signature for HTTP servers)."""
    server = find_server(org, name)
    endpoint: dict[str, Any] = {
        "org": org.slug,
        "url": "",
        "headers": {},
        "weight": weight,
        "meta": {ORG_META_KEY: org.slug},
        "server": name,
    }
    if server.transport == ServerConnection.Transport.INPROCESS:
        endpoint["inprocess_server"] = server.target
        return endpoint
    endpoint["url"] = server.url
    endpoint["sign"] = True
    endpoint["transport"] = server.transport
    token = server.bearer_token()
    if token:
        endpoint["headers"] = {"Authorization": f"Bearer {token}"}
    return endpoint


def gateway_endpoint(
    org: Any, raw_key: str, weight: float, mode: str, base_url: str | None
) -> dict[str, Any]:
    return {
        "org": org.slug,
        "url": gateway_url(mode, base_url),
        "headers": {"Authorization": f"Bearer {raw_key}"},
        "weight": weight,
    }


def check_targets(orgs: list[Any], profile: dict[str, Any], base_url: str | None) -> None:
    """``RunRefused`` unless every organization may be loaded on the profile's target (and direct)."""
    name = server_name(profile["target"])
    if name is None:
        gateway_url(profile["mode"], base_url)
    for org in orgs:
        for server in (name, profile.get("direct")):
            if server:
                find_server(org, server)
