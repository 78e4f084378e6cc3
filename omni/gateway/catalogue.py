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
from asgiref.sync import sync_to_async
from django.conf import settings

from omni.gateway import downstream
from omni.gateway.state import bump_versions, read_versions
from omni.registry import services as registry
from omni.registry.access import RuleSet, aload_rules
from omni.registry.models import CredentialUnreadable
from omni.registry.pins import check_tools
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)

SEPARATOR = "__"


@dataclass
class ToolRoute:
    target: downstream.Target
    original_name: str
    tool: types.Tool


@dataclass
class PromptRoute:
    target: downstream.Target
    original_name: str
    prompt: types.Prompt


@dataclass
class ResourceRoute:
    target: downstream.Target
    resource: types.Resource


@dataclass
class Catalogue:
    org_id: int
    tools: list[types.Tool] = field(default_factory=list)
    routes: dict[str, ToolRoute] = field(default_factory=dict)
    prompts: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    templates: list[Any] = field(default_factory=list)
    # Prompts and resources of the downstream servers (prompts namespaced like tools; the
    # database's own prompts and resources win a name or URI clash).
    prompt_routes: dict[str, PromptRoute] = field(default_factory=dict)
    resource_routes: dict[str, ResourceRoute] = field(default_factory=dict)
    # Servers that could not be listed, with the reason (tools/list leaves them out).
    unavailable: dict[str, str] = field(default_factory=dict)
    # Tools whose definition changed since it was approved, per server: not offered (pinning).
    held_back: dict[str, list[str]] = field(default_factory=dict)
    # The organization's access rules (who may see and use which tool, prompt, resource).
    rules: RuleSet | None = None

    def allows(self, ctx: OrgContext, kind: str, name: str) -> bool:
        return self.rules is None or self.rules.allows(ctx, kind, name)


_catalogues: dict[int, tuple[tuple[int, int], float, Catalogue]] = {}
_listing_cache: dict[str, tuple[float, downstream.Listing]] = {}
# A catalogue with an unavailable server is rebuilt sooner, so a server that comes back shows up.
RETRY_UNAVAILABLE_SECONDS = 10.0


def _version_keys(org_id: int) -> list[str]:
    return [f"catalogue:org:{org_id}", "catalogue:global"]


def invalidate_catalogue(org_id: int | None, kinds: set[str] | frozenset[str] = frozenset()) -> None:
    """Mark the catalogue of ``org_id`` (every organization when None) stale in all processes."""
    bump_versions(["catalogue:global"] if org_id is None else [f"catalogue:org:{org_id}"])
    if "tools" in kinds:
        _listing_cache.clear()


async def _server_listing(target: downstream.Target) -> downstream.Listing:
    ttl = settings.MCP_DOWNSTREAM_TOOLS_TTL
    cached = _listing_cache.get(target.key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    listing = await downstream.describe(target)
    if ttl > 0:
        _listing_cache[target.key] = (now + ttl, listing)
    return listing


def forget_listing(target_key: str) -> None:
    """Drop one server's cached listing (it said its lists changed)."""
    _listing_cache.pop(target_key, None)


def namespaced(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{tool}"


async def _build(organization: Any) -> Catalogue:
    catalogue = Catalogue(org_id=organization.pk)
    servers = await registry.aeffective_servers(organization)
    targets = []
    for conn in servers:
        try:
            targets.append(downstream.Target.from_connection(conn))
        except CredentialUnreadable as exc:
            catalogue.unavailable[conn.name] = str(exc)
            logger.error("catalogue of org %s: %s", organization.slug, exc)
    listed: dict[str, downstream.Listing] = {}

    async def list_one(target: downstream.Target) -> None:
        try:
            listed[target.name] = await _server_listing(target)
        except downstream.DownstreamError as exc:
            catalogue.unavailable[target.name] = str(exc)
            logger.warning("catalogue of org %s: %s", organization.slug, exc)

    async with anyio.create_task_group() as tg:
        for target in targets:
            tg.start_soon(list_one, target)

    catalogue.rules = await aload_rules(organization)
    catalogue.prompts = {p.name: p for p in await registry.aeffective_prompts(organization)}
    catalogue.resources = {r.uri: r for r in await registry.aeffective_resources(organization)}
    catalogue.templates = list(await registry.aeffective_resource_templates(organization))

    for target in targets:
        listing = listed.get(target.name)
        if listing is None:
            continue
        offered, held = await sync_to_async(check_tools)(target.connection_id, listing.tools)
        if held:
            catalogue.held_back[target.name] = held
            logger.warning(
                "org %s: tools of %s held back until an admin approves their changed definition: %s",
                organization.slug,
                target.name,
                ", ".join(held),
            )
        for tool in offered:
            name = namespaced(target.name, tool.name)
            exposed = tool.model_copy(update={"name": name})
            catalogue.tools.append(exposed)
            catalogue.routes[name] = ToolRoute(target=target, original_name=tool.name, tool=exposed)
        for prompt in listing.prompts:
            name = namespaced(target.name, prompt.name)
            if name not in catalogue.prompts and name not in catalogue.prompt_routes:
                exposed_prompt = prompt.model_copy(update={"name": name})
                catalogue.prompt_routes[name] = PromptRoute(target, prompt.name, exposed_prompt)
        for resource in listing.resources:
            if resource.uri not in catalogue.resources and resource.uri not in catalogue.resource_routes:
                catalogue.resource_routes[resource.uri] = ResourceRoute(target, resource)
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


def cached_catalogue(org_id: int) -> Catalogue | None:
    """This process's last catalogue of the organization, without checking that it is current."""
    cached = _catalogues.get(org_id)
    return cached[2] if cached is not None else None


def clear_process_caches() -> None:
    _catalogues.clear()
    _listing_cache.clear()
