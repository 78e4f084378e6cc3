"""An organization's catalogue: namespaced downstream tools + database prompts and resources.

Kept per process, keyed by two version counters (the organization's and the global one) that live
in the shared state (Redis, or files without it). A registry change bumps the counter after commit
(``invalidate_catalogue``), so every process rebuilds on its next request: a change is visible to
clients at once, with no restart. Downstream listings are cached per server connection for
``MCP_DOWNSTREAM_TOOLS_TTL`` seconds (keyed by the connection's last change and the limits).

Building stays off the request path (docs/gateway.md, "Catalogue refresh"):

* one build at a time per organization (single flight); a request that finds the registry changed
  waits for that build, bounded by ``MCP_CATALOGUE_WAIT_SECONDS``; any other refresh (an expired
  listing, a server that came back, a late listing) runs in the background while requests are served
  the last good catalogue, marked ``stale``;
* every server is listed concurrently, in its own task with its own timeout (one listing per server
  connection at a time, shared by every organization that uses it); a server that has not answered
  when the wait ends is left out for now (``pending``), or keeps its last good listing, and its late
  answer triggers a background rebuild;
* a server known to be down (``health``) has its tools, prompts and resources withheld from the next
  request on, and is retried in the background until it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from django.conf import settings

from omni.dbexec import run_db
from omni.gateway import downstream, health
from omni.gateway.downstream_limits import limits_for
from omni.gateway.state import bump_versions, read_versions
from omni.registry import services as registry
from omni.registry.access import RuleSet, load_rules
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
class TemplateRoute:
    target: downstream.Target
    original_name: str
    template: types.ResourceTemplate  # as exposed: the name namespaced, the URI template unchanged


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
    # Resource templates of the downstream servers, by namespaced name (a URI template the
    # database's templates already have is left out: the database wins).
    template_routes: dict[str, TemplateRoute] = field(default_factory=dict)
    # Servers that could not be listed, with the reason (tools/list leaves them out).
    unavailable: dict[str, str] = field(default_factory=dict)
    # The tools of those servers, as far as their last good listing in this process knows them
    # (namespaced names): tools/list reports them in _meta so a UI can show them as unavailable.
    withheld: dict[str, list[str]] = field(default_factory=dict)
    # Tools whose definition changed since it was approved, per server: not offered (pinning).
    held_back: dict[str, list[str]] = field(default_factory=dict)
    # The organization's access rules (who may see and use which tool, prompt, resource).
    rules: RuleSet | None = None
    # Servers whose listing had not arrived when the build stopped waiting (name -> its task); a
    # server whose last good listing was used instead is in ``stale_servers``.
    pending: dict[str, Any] = field(default_factory=dict)
    stale_servers: set[str] = field(default_factory=set)
    # True while a newer catalogue is being built or is known to be needed (served meanwhile).
    stale: bool = False
    # When the oldest listing used expires (monotonic): then a background refresh starts.
    expires_at: float = float("inf")

    def allows(self, ctx: OrgContext, kind: str, name: str) -> bool:
        return self.rules is None or self.rules.allows(ctx, kind, name)

    def without_down_servers(self) -> Catalogue:
        """This catalogue with the servers known to be down left out (a shallow copy)."""
        down = {t.name for t in self._targets() if health.is_down(t.key)}
        if not down:
            return self
        view = dataclasses.replace(self)
        view.tools = [
            t for t in self.tools if t.name not in self.routes or self.routes[t.name].target.name not in down
        ]
        view.routes = {n: r for n, r in self.routes.items() if r.target.name not in down}
        view.prompt_routes = {n: r for n, r in self.prompt_routes.items() if r.target.name not in down}
        view.resource_routes = {u: r for u, r in self.resource_routes.items() if r.target.name not in down}
        view.template_routes = {n: r for n, r in self.template_routes.items() if r.target.name not in down}
        view.unavailable = dict(self.unavailable)
        view.withheld = dict(self.withheld)
        for target in self._targets():
            if target.name in down:
                view.unavailable[target.name] = f"down: {health.reason(target.key)}"
        for name, route in self.routes.items():
            if route.target.name in down:
                view.withheld.setdefault(route.target.name, []).append(name)
        return view

    def target_named(self, name: str) -> downstream.Target | None:
        """The organization's server called ``name`` in this catalogue (None: not, or down)."""
        return next((t for t in self._targets() if t.name == name), None)

    def _targets(self) -> list[downstream.Target]:
        seen: dict[str, downstream.Target] = {}
        routes = (
            *self.routes.values(),
            *self.prompt_routes.values(),
            *self.resource_routes.values(),
            *self.template_routes.values(),
        )
        for route in routes:
            seen.setdefault(route.target.name, route.target)
        return list(seen.values())

    def status(self) -> dict[str, Any] | None:
        """What a client may want to know about the freshness of this catalogue (None: all fresh)."""
        if not (self.stale or self.unavailable or self.pending or self.stale_servers):
            return None
        status: dict[str, Any] = {
            "stale": bool(self.stale or self.stale_servers),
            "unavailable": dict(self.unavailable),
            "pending": sorted(self.pending),
        }
        if self.withheld:
            status["withheld"] = {server: sorted(names) for server, names in self.withheld.items()}
        return status


@dataclass
class _Entry:
    versions: tuple[int, ...]
    built_at: float
    catalogue: Catalogue
    health_generation: int
    view: Catalogue | None = None
    view_generation: int = -1


_entries: dict[int, _Entry] = {}
# Single flights, per event loop: one build per organization, one listing per server connection.
_builds: dict[tuple[int, int], asyncio.Task] = {}
_listings: dict[tuple[int, str], asyncio.Task] = {}
_probes: dict[tuple[int, str], asyncio.Task] = {}
# Every listing fetched, good or expired: key -> (expires at, listing). An expired listing is still
# served (stale) while its server is asked again.
_listing_cache: dict[str, tuple[float, downstream.Listing]] = {}


def _retry_seconds() -> float:
    return settings.MCP_DOWNSTREAM_RETRY_SECONDS


def _version_keys(org_id: int) -> list[str]:
    return [f"catalogue:org:{org_id}", "catalogue:global"]


def invalidate_catalogue(org_id: int | None, kinds: set[str] | frozenset[str] = frozenset()) -> None:
    """Mark the catalogue of ``org_id`` (every organization when None) stale in all processes."""
    bump_versions(["catalogue:global"] if org_id is None else [f"catalogue:org:{org_id}"])
    if "tools" in kinds:
        _listing_cache.clear()


def _loop_id() -> int:
    return id(asyncio.get_running_loop())


def _listing_task(target: downstream.Target) -> asyncio.Task:
    """The one listing of ``target`` in flight in this loop (started when there is none)."""
    key = (_loop_id(), target.listing_key)
    task = _listings.get(key)
    if task is None:
        task = asyncio.get_running_loop().create_task(
            _fetch_listing(target), name=f"omni-listing-{target.name}"
        )
        _listings[key] = task
        task.add_done_callback(lambda _t: _listings.pop(key, None))
    return task


async def _fetch_listing(target: downstream.Target) -> downstream.Listing:
    try:
        listing = await downstream.describe(target)
    except downstream.DownstreamError as exc:
        if exc.kind != "too_large":
            health.failed(target, str(exc))
        raise
    ttl = settings.MCP_DOWNSTREAM_TOOLS_TTL
    _listing_cache[target.listing_key] = (time.monotonic() + ttl, listing)
    return listing


async def _server_listing(target: downstream.Target) -> downstream.Listing:
    """The server's listing: cached while fresh, else fetched (single flight)."""
    cached = _listing_cache.get(target.listing_key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    return await asyncio.shield(_listing_task(target))


def forget_listing(target_key: str) -> None:
    """Drop one server's cached listings (it said its lists changed)."""
    for key in [k for k in _listing_cache if k.split("|", 1)[0] == target_key]:
        _listing_cache.pop(key, None)


def _schedule_probe(target: downstream.Target) -> None:
    """Retry a server that went down, with backoff, until it answers (then catalogues rebuild)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    key = (id(loop), target.key)
    if key in _probes and not _probes[key].done():
        return

    async def probe() -> None:
        delay = _retry_seconds()
        for _ in range(10_000):
            await asyncio.sleep(delay)
            if not health.is_down(target.key):
                return
            with contextlib.suppress(downstream.DownstreamError):
                await asyncio.shield(_listing_task(target))
            if not health.is_down(target.key):
                return
            delay = min(delay * 2, max(_retry_seconds(), 60.0))

    _probes[key] = loop.create_task(probe(), name=f"omni-probe-{target.name}")


health.on_down.append(_schedule_probe)


def namespaced(server: str, tool: str) -> str:
    return f"{server}{SEPARATOR}{tool}"


def exposed_name(target: downstream.Target, name: str) -> str:
    """The name a client sees for the tool or prompt ``name`` of ``target``."""
    return name if target.no_prefix else namespaced(target.name, name)


def _no_prefix_clash(
    catalogue: Catalogue, target: downstream.Target, listing: downstream.Listing
) -> str | None:
    """Why the un-namespaced ``target`` cannot join the catalogue built so far (a name of its
    tools or prompts is already taken), or None. The server is then withheld, never shadowing."""
    for tool in listing.tools:
        if tool.name in catalogue.routes:
            owner = catalogue.routes[tool.name].target.name
            return f"no prefix: its tool {tool.name!r} collides with the tool of server {owner!r}"
    for prompt in listing.prompts:
        if prompt.name in catalogue.prompts:
            return f"no prefix: its prompt {prompt.name!r} collides with the database's prompt of that name"
        if prompt.name in catalogue.prompt_routes:
            owner = catalogue.prompt_routes[prompt.name].target.name
            return f"no prefix: its prompt {prompt.name!r} collides with the prompt of server {owner!r}"
    return None


def _swallow(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failed listing is reported through the catalogue


def _database_part(organization: Any) -> tuple[RuleSet, list, list, list]:
    """What the catalogue takes from the database, in one call off the event loop."""
    return (
        load_rules(organization),
        registry.effective_prompts(organization),
        registry.effective_resources(organization),
        registry.effective_resource_templates(organization),
    )


async def _build(organization: Any) -> Catalogue:
    catalogue = Catalogue(org_id=organization.pk)
    servers = await registry.aeffective_servers(organization)
    limits = limits_for(organization)
    targets = []
    for conn in servers:
        try:
            targets.append(dataclasses.replace(downstream.Target.from_connection(conn), limits=limits))
        except CredentialUnreadable as exc:
            catalogue.unavailable[conn.name] = str(exc)
            logger.error("catalogue of org %s: %s", organization.slug, exc)
    listed: dict[str, downstream.Listing] = {}
    waiting: dict[str, asyncio.Future] = {}
    now = time.monotonic()
    for target in targets:
        cached = _listing_cache.get(target.listing_key)
        if health.is_down(target.key):
            # Known down: withheld (the view says why) and retried by its probe, not here. (The
            # probe is (re)started in this loop: the failure may have been noticed in another.)
            _schedule_probe(target)
            if cached is not None:
                listed[target.name] = cached[1]
            continue
        if cached is not None and cached[0] > now:
            listed[target.name] = cached[1]
            catalogue.expires_at = min(catalogue.expires_at, cached[0])
            continue
        task = asyncio.ensure_future(_server_listing(target))
        task.add_done_callback(_swallow)
        waiting[target.name] = task
    # In-process servers (the gateway's own code, which cannot black-hole) are waited for; remote
    # ones only until MCP_CATALOGUE_WAIT_SECONDS.
    own = [waiting[t.name] for t in targets if t.transport == "inprocess" and t.name in waiting]
    if own:
        await asyncio.wait(own)
    if waiting:
        await asyncio.wait(waiting.values(), timeout=settings.MCP_CATALOGUE_WAIT_SECONDS)
    for target in targets:
        task = waiting.get(target.name)
        if task is None:
            continue
        if not task.done():
            cached = _listing_cache.get(target.listing_key)
            if cached is not None:  # its last good listing, until the new one arrives
                listed[target.name] = cached[1]
                catalogue.stale_servers.add(target.name)
            catalogue.pending[target.name] = task
            logger.info("catalogue of org %s: %s not listed yet", organization.slug, target.name)
        elif (exc := task.exception()) is not None:
            catalogue.unavailable[target.name] = str(exc)
            known = _listing_cache.get(target.listing_key)  # its last good listing, even expired
            if known is not None:
                catalogue.withheld[target.name] = [exposed_name(target, t.name) for t in known[1].tools]
            logger.warning("catalogue of org %s: %s", organization.slug, exc)
        else:
            listed[target.name] = task.result()
            for kind, name, size in task.result().refused:
                downstream.record_limit(
                    target, "max_definition_bytes", f"{kind} {name}", organization=organization, size=size
                )
            expiry = _listing_cache.get(target.listing_key, (now, None))[0]
            catalogue.expires_at = min(catalogue.expires_at, expiry)

    rules, prompts, resources, templates = await run_db(_database_part, organization)
    catalogue.rules = rules
    catalogue.prompts = {p.name: p for p in prompts}
    catalogue.resources = {r.uri: r for r in resources}
    catalogue.templates = templates

    # Namespaced servers first: an un-namespaced one joins only where its names are still free.
    for target in sorted(targets, key=lambda t: (t.no_prefix, t.name)):
        listing = listed.get(target.name)
        if listing is None:
            continue
        if target.no_prefix and (clash := _no_prefix_clash(catalogue, target, listing)) is not None:
            catalogue.unavailable[target.name] = clash
            logger.error("catalogue of org %s: server %s withheld: %s", organization.slug, target.name, clash)
            continue
        offered, held = await run_db(check_tools, target.connection_id, listing.tools)
        if held:
            catalogue.held_back[target.name] = held
            logger.warning(
                "org %s: tools of %s held back until an admin approves their changed definition: %s",
                organization.slug,
                target.name,
                ", ".join(held),
            )
        for tool in offered:
            name = exposed_name(target, tool.name)
            exposed = tool.model_copy(update={"name": name})
            catalogue.tools.append(exposed)
            catalogue.routes[name] = ToolRoute(target=target, original_name=tool.name, tool=exposed)
        for prompt in listing.prompts:
            name = exposed_name(target, prompt.name)
            if name not in catalogue.prompts and name not in catalogue.prompt_routes:
                exposed_prompt = prompt.model_copy(update={"name": name})
                catalogue.prompt_routes[name] = PromptRoute(target, prompt.name, exposed_prompt)
        for resource in listing.resources:
            if resource.uri not in catalogue.resources and resource.uri not in catalogue.resource_routes:
                catalogue.resource_routes[resource.uri] = ResourceRoute(target, resource)
        known_templates = {t.uri_template for t in templates} | {
            r.template.uri_template for r in catalogue.template_routes.values()
        }
        for template in listing.templates:
            name = namespaced(target.name, template.name)
            if template.uri_template in known_templates or name in catalogue.template_routes:
                continue
            known_templates.add(template.uri_template)
            exposed_template = template.model_copy(update={"name": name})
            catalogue.template_routes[name] = TemplateRoute(target, template.name, exposed_template)
    return catalogue


def _build_task(organization: Any, versions: tuple[int, ...]) -> asyncio.Task:
    """The build of the organization's catalogue at ``versions`` (single flight per versions)."""
    key = (_loop_id(), organization.pk, versions)
    task = _builds.get(key)
    if task is not None:
        return task

    async def build() -> _Entry:
        started = time.monotonic()
        catalogue = await _build(organization)
        entry = _Entry(versions, started, catalogue, health.generation)
        current = _entries.get(organization.pk)
        if current is None or current.built_at <= started:
            _entries[organization.pk] = entry
        return entry

    task = asyncio.get_running_loop().create_task(build(), name=f"omni-catalogue-{organization.pk}")
    _builds[key] = task
    task.add_done_callback(lambda _t: _builds.pop(key, None))
    task.add_done_callback(_swallow)
    return task


def _building(org_id: int) -> bool:
    loop_id = _loop_id()
    return any(k[0] == loop_id and k[1] == org_id for k in _builds)


def _needs_refresh(entry: _Entry, now: float) -> bool:
    catalogue = entry.catalogue
    return (
        entry.health_generation != health.generation
        or now >= catalogue.expires_at
        or any(task.done() for task in catalogue.pending.values())
        or (bool(catalogue.unavailable) and now - entry.built_at >= _retry_seconds())
    )


async def get_catalogue(organization: Any) -> Catalogue:
    """The organization's current catalogue.

    After a registry change (the version counters moved) the request waits for the new build;
    otherwise it gets the last good catalogue at once, and a refresh it needs runs in the
    background (the catalogue is marked ``stale`` meanwhile). Servers known to be down are left out.
    """
    versions = tuple(await read_versions(_version_keys(organization.pk)))
    entry = _entries.get(organization.pk)
    if entry is None or entry.versions != versions:
        entry = await asyncio.shield(_build_task(organization, versions))
    now = time.monotonic()
    if not _building(organization.pk) and _needs_refresh(entry, now):
        _build_task(organization, versions)
    if entry.view is None or entry.view_generation != health.generation:
        entry.view = entry.catalogue.without_down_servers()
        if entry.view is entry.catalogue:
            entry.view = dataclasses.replace(entry.catalogue)
        entry.view_generation = health.generation
    entry.view.stale = _building(organization.pk)
    return entry.view


async def refreshed_catalogue(organization: Any) -> Catalogue:
    """``get_catalogue``, waiting for the refresh it starts (after a pending listing finished)
    instead of answering with the catalogue built before it."""
    await get_catalogue(organization)
    loop_id = _loop_id()
    building = [task for key, task in _builds.items() if key[0] == loop_id and key[1] == organization.pk]
    if building:
        await asyncio.wait([asyncio.shield(task) for task in building])
    return await get_catalogue(organization)


def cached_catalogue(org_id: int) -> Catalogue | None:
    """This process's last catalogue of the organization, without checking that it is current."""
    entry = _entries.get(org_id)
    if entry is None:
        return None
    return entry.view if entry.view is not None else entry.catalogue


def clear_process_caches() -> None:
    _entries.clear()
    _listing_cache.clear()
