"""An organization's catalogue: namespaced downstream tools + database prompts and resources.

Built on demand and kept per process, keyed by two version counters (the organization's and the
global one) that live in the shared state (Redis, or memory without it). A registry change bumps
the counter after commit (``invalidate_catalogue``), so every process rebuilds on its next request:
a change is visible to clients at once, with no restart. Downstream tool lists are cached per
server connection for ``MCP_DOWNSTREAM_TOOLS_TTL`` seconds (keyed by the connection's last change).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from django.conf import settings

from omni.gateway import downstream
from omni.gateway.state import bump_versions, read_versions
from omni.registry import services as registry

logger = logging.getLogger(__name__)

SEPARATOR = "__"


@dataclass
class ToolRoute:
    target: downstream.Target
    original_name: str
    tool: types.Tool


@dataclass
class Catalogue:
    org_id: int
    tools: list[types.Tool] = field(default_factory=list)
    routes: dict[str, ToolRoute] = field(default_factory=dict)
    prompts: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    templates: list[Any] = field(default_factory=list)
    # Servers that could not be listed, with the reason (tools/list leaves them out).
    unavailable: dict[str, str] = field(default_factory=dict)


_catalogues: dict[int, tuple[tuple[int, int], float, Catalogue]] = {}
_tool_cache: dict[str, tuple[float, list[types.Tool]]] = {}
# A catalogue with an unavailable server is rebuilt sooner, so a server that comes back shows up.
RETRY_UNAVAILABLE_SECONDS = 10.0


def _version_keys(org_id: int) -> list[str]:
    return [f"catalogue:org:{org_id}", "catalogue:global"]


def invalidate_catalogue(org_id: int | None, kinds: set[str] | frozenset[str] = frozenset()) -> None:
    """Mark the catalogue of ``org_id`` (every organization when None) stale in all processes."""
    bump_versions(["catalogue:global"] if org_id is None else [f"catalogue:org:{org_id}"])
    if "tools" in kinds:
        _tool_cache.clear()


async def _server_tools(target: downstream.Target) -> list[types.Tool]:
    ttl = settings.MCP_DOWNSTREAM_TOOLS_TTL
    cached = _tool_cache.get(target.key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    tools = await downstream.list_tools(target)
    if ttl > 0:
        _tool_cache[target.key] = (now + ttl, tools)
    return tools


def namespaced(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{tool}"


async def _build(organization: Any) -> Catalogue:
    catalogue = Catalogue(org_id=organization.pk)
    servers = await registry.aeffective_servers(organization)
    targets = [downstream.Target.from_connection(conn) for conn in servers]
    listed: dict[str, list[types.Tool]] = {}

    async def list_one(target: downstream.Target) -> None:
        try:
            listed[target.name] = await _server_tools(target)
        except downstream.DownstreamError as exc:
            catalogue.unavailable[target.name] = str(exc)
            logger.warning("catalogue of org %s: %s", organization.slug, exc)

    async with anyio.create_task_group() as tg:
        for target in targets:
            tg.start_soon(list_one, target)

    for target in targets:
        for tool in listed.get(target.name, []):
            name = namespaced(target.name, tool.name)
            exposed = tool.model_copy(update={"name": name})
            catalogue.tools.append(exposed)
            catalogue.routes[name] = ToolRoute(target=target, original_name=tool.name, tool=exposed)

    catalogue.prompts = {p.name: p for p in await registry.aeffective_prompts(organization)}
    catalogue.resources = {r.uri: r for r in await registry.aeffective_resources(organization)}
    catalogue.templates = list(await registry.aeffective_resource_templates(organization))
    return catalogue


async def get_catalogue(organization: Any) -> Catalogue:
    """The organization's current catalogue (rebuilt when a version counter moved)."""
    versions = tuple(await read_versions(_version_keys(organization.pk)))
    cached = _catalogues.get(organization.pk)
    now = time.monotonic()
    if cached is not None and cached[0] == versions:
        built_at, catalogue = cached[1], cached[2]
        if not catalogue.unavailable or now - built_at < RETRY_UNAVAILABLE_SECONDS:
            return catalogue
    catalogue = await _build(organization)
    _catalogues[organization.pk] = (versions, now, catalogue)  # type: ignore[assignment]
    return catalogue


def clear_process_caches() -> None:
    _catalogues.clear()
    _tool_cache.clear()
