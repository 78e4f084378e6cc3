"""Talking to downstream MCP servers: in-process, Streamable HTTP, SSE or stdio.

Every call goes through the official SDK client (``mcp.Client``) and is bounded by the server
connection's timeout. Failures become ``DownstreamError`` with a message a client can act on;
the gateway turns it into an MCP error. The organization travels in the request ``_meta`` under
``io.omni/org`` (the built-in servers read it there).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import mcp_types as types
from django.conf import settings
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from omni.gateway.signing import GatewaySigner
from omni.security import egress, failures

logger = logging.getLogger(__name__)

ORG_META_KEY = "io.omni/org"
MAX_TOOL_PAGES = 50


class DownstreamError(Exception):
    """A downstream server could not answer: down, timed out, or broke the protocol."""

    def __init__(self, server: str, message: str, *, code: int | None = None, data: Any = None) -> None:
        super().__init__(f"server '{server}': {message}")
        self.server = server
        self.code = code
        self.data = data


@dataclass(frozen=True)
class Target:
    """What the gateway needs to reach one server connection (a snapshot, safe across threads)."""

    key: str  # cache key: "<pk>:<updated_at>"
    name: str
    transport: str
    target: str = ""
    url: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    credential: str = ""
    timeout: float = 30.0
    allowlist: frozenset[str] = field(default_factory=frozenset)
    org_id: int | None = None  # None: a global connection, every organization uses it
    connection_id: int | None = None

    @classmethod
    def from_connection(cls, conn: Any) -> Target:
        return cls(
            key=f"{conn.pk}:{conn.updated_at.timestamp() if conn.updated_at else 0}",
            name=conn.name,
            transport=conn.transport,
            target=conn.target or "",
            url=conn.url or "",
            command=conn.command or "",
            args=tuple(conn.args or ()),
            env=tuple(sorted((conn.env or {}).items())),
            credential=conn.bearer_token(),
            timeout=float(conn.timeout_seconds or settings.MCP_FORWARD_TIMEOUT),
            allowlist=frozenset(conn.tool_allowlist or ()),
            org_id=conn.organization_id,
            connection_id=conn.pk,
        )


_inprocess_servers: dict[str, Any] = {}
# The era each URL answered in — (a modern version, its DiscoverResult) or ("legacy", None) — so a
# new client for it skips the probe yet keeps the server's real capabilities.
_url_modes: dict[str, tuple[str, Any]] = {}


def _inprocess_server(target: str) -> Any:
    server = _inprocess_servers.get(target)
    if server is None:
        path = settings.MCP_INPROCESS_SERVERS.get(target)
        if path is None:
            raise DownstreamError(target, f"no built-in server named '{target}'")
        module_name, _, attr = path.partition(":")
        factory: Callable[[], Any] = getattr(importlib.import_module(module_name), attr)
        server = factory()
        _inprocess_servers[target] = server
    return server


def _headers(target: Target) -> dict[str, str]:
    headers = {"User-Agent": "omni-mcp-gateway"}
    if target.credential:
        headers["Authorization"] = f"Bearer {target.credential}"
    return headers


LIST_CHANGED = (
    types.ToolListChangedNotification,
    types.PromptListChangedNotification,
    types.ResourceListChangedNotification,
)


def _change_handler(target: Target) -> Callable[[Any], Any]:
    """The server says one of its lists changed: forget its listing and tell the affected
    organizations' sessions (``notifications/*/list_changed``), as for a registry change."""

    async def handle(message: Any) -> None:
        if isinstance(message, LIST_CHANGED):
            from omni.gateway.catalogue import forget_listing
            from omni.gateway.notify import registry_changed

            logger.info("server %s says %s", target.name, message.method)
            forget_listing(target.key)
            await asyncio.to_thread(registry_changed, target.org_id, {"tools", "prompts", "resources"})

    return handle


@contextlib.asynccontextmanager
async def open_client(
    target: Target, *, logging_callback: Callable[[Any], Any] | None = None, log_level: str | None = None
) -> AsyncIterator[Client]:
    """An entered SDK client for ``target``; the caller bounds it with a timeout. With
    ``logging_callback`` (and ``log_level`` for 2026-07-28 servers) the server's log messages
    reach the callback."""
    on_change = _change_handler(target)
    logs: dict[str, Any] = {"logging_callback": logging_callback, "log_level": log_level}
    if target.transport == "inprocess":
        async with Client(
            _inprocess_server(target.target), cache=None, message_handler=on_change, **logs
        ) as client:
            yield client
        return
    if target.transport == "streamable_http":
        # A server that answered server/discover before is adopted from that answer (no probe);
        # a legacy one goes straight to the handshake.
        mode, prior = _url_modes.get(target.url, ("auto", None))
        timeout = httpx2.Timeout(target.timeout, read=target.timeout)
        auth = GatewaySigner()  # every request signed (X-Omni-Signature, docs/signing.md)
        # Every connection passes the egress policy (organizations' servers; docs/security.md).
        async with egress.http_client(target, headers=_headers(target), timeout=timeout, auth=auth) as http:
            transport = streamable_http_client(target.url, http_client=http)
            async with Client(
                transport, mode=mode, prior_discover=prior, cache=None, message_handler=on_change, **logs
            ) as client:
                discovered = client.session.discover_result
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS and discovered is not None:
                    _url_modes[target.url] = (client.protocol_version, discovered)
                else:
                    _url_modes[target.url] = ("legacy", None)
                yield client
        return
    if target.transport == "sse":
        transport = sse_client(
            target.url,
            headers=_headers(target),
            timeout=target.timeout,
            auth=GatewaySigner(),
            httpx_client_factory=egress.client_factory(target),
        )
        async with Client(transport, mode="legacy", cache=None, message_handler=on_change, **logs) as client:
            yield client
        return
    if target.transport == "stdio":
        params = StdioServerParameters(
            command=target.command, args=list(target.args), env=dict(target.env) or None
        )
        async with Client(params, mode="auto", cache=None, message_handler=on_change, **logs) as client:
            yield client
        return
    raise DownstreamError(target.name, f"unknown transport '{target.transport}'")


def _describe(exc: BaseException) -> str:
    """A category only (refused, timed out, TLS, not an MCP server…): the details, which may quote
    the response or tell open from closed ports, go to the server log."""
    return failures.failure_category(exc)


# --------------------------------------------------------------------------- connection pool
# One long-lived SDK client per server connection and event loop: no TCP connect, handshake or
# subprocess start per call (a stdio server keeps running). A client is owned by a background task
# (anyio scopes must be exited by the task that entered them) and dropped when a call fails at
# the transport level, when it has been idle for POOL_MAX_IDLE seconds, or when the connection's
# configuration changes (its key changes).
POOL_MAX_IDLE = 60.0


@dataclass
class _Pooled:
    client: Client
    stop: asyncio.Event
    task: asyncio.Task
    last_used: float
    broken: bool = False

    def close(self) -> None:
        self.broken = True
        self.stop.set()


_pools: dict[int, dict[str, _Pooled]] = {}
_pool_locks: dict[tuple[int, str], asyncio.Lock] = {}


async def _start_client(target: Target) -> _Pooled:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Client] = loop.create_future()
    stop = asyncio.Event()
    holder: dict[str, _Pooled] = {}

    async def own() -> None:
        try:
            async with open_client(target) as client:
                ready.set_result(client)
                await stop.wait()
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting caller or logged
            if not ready.done():
                ready.set_exception(exc)
            else:
                logger.info("pooled client of %s ended: %r", target.name, exc)
        finally:
            if "pooled" in holder:
                holder["pooled"].broken = True

    task = loop.create_task(own(), name=f"mcp-client-{target.name}")
    try:
        client = await ready
    except BaseException:
        stop.set()
        raise
    pooled = _Pooled(client=client, stop=stop, task=task, last_used=time.monotonic())
    holder["pooled"] = pooled
    return pooled


async def _acquire(target: Target) -> _Pooled:
    loop_id = id(asyncio.get_running_loop())
    pool = _pools.setdefault(loop_id, {})
    now = time.monotonic()
    pooled = pool.get(target.key)
    if pooled is not None and not pooled.broken and now - pooled.last_used < POOL_MAX_IDLE:
        pooled.last_used = now
        return pooled
    lock = _pool_locks.setdefault((loop_id, target.key), asyncio.Lock())
    async with lock:
        pooled = pool.get(target.key)
        if pooled is not None and not pooled.broken and now - pooled.last_used < POOL_MAX_IDLE:
            pooled.last_used = now
            return pooled
        if pooled is not None:
            pooled.close()
        for key, other in list(pool.items()):  # sweep idle and broken clients
            if other.broken or now - other.last_used >= POOL_MAX_IDLE:
                other.close()
                pool.pop(key, None)
        pooled = await _start_client(target)
        pool[target.key] = pooled
        return pooled


def close_pool() -> None:
    """Drop every pooled client of every loop (tests, configuration reloads)."""
    for pool in _pools.values():
        for pooled in pool.values():
            pooled.close()
        pool.clear()


@contextlib.asynccontextmanager
async def _pooled_client(target: Target) -> AsyncIterator[Client]:
    pooled = await _acquire(target)
    try:
        yield pooled.client
    except MCPError:
        raise  # the server answered with an error: the connection itself is fine
    except BaseException:
        pooled.close()  # transport failure, timeout or cancellation: start afresh next time
        raise


@contextlib.asynccontextmanager
async def _guard(target: Target, what: str) -> AsyncIterator[None]:
    """Bound a downstream exchange by the timeout and turn every failure into DownstreamError."""
    try:
        with anyio.fail_after(target.timeout):
            yield
    except DownstreamError:
        raise
    except TimeoutError:
        raise DownstreamError(target.name, f"{what} timed out after {target.timeout:g}s") from None
    except MCPError as exc:
        if failures.is_sdk_synthesised(exc.error.message):  # not the server's answer: may quote the body
            logger.info("downstream %s failed during %s: %r", target.name, what, exc)
            raise DownstreamError(target.name, f"{what} failed: {_describe(exc)}") from exc
        raise DownstreamError(
            target.name, exc.error.message, code=exc.error.code, data=exc.error.data
        ) from exc
    except Exception as exc:  # anything the transport throws (connection refused, bad JSON…)
        logger.info("downstream %s failed during %s: %r", target.name, what, exc)
        raise DownstreamError(target.name, f"{what} failed: {_describe(exc)}") from exc


@dataclass
class Listing:
    """What one server offers: its tools (allowlist applied), prompts and resources."""

    tools: list[types.Tool] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)


async def _pages(fetch: Callable[[str | None], Any], attribute: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await fetch(cursor)
        items.extend(getattr(page, attribute))
        cursor = page.next_cursor
        if not cursor:
            break
    return items


async def describe(target: Target) -> Listing:
    """Every tool, prompt and resource of the server (all pages, as far as it offers them)."""
    listing = Listing()
    async with _guard(target, "listing"), _pooled_client(target) as client:
        capabilities = client.server_capabilities
        if capabilities.tools is not None:
            listing.tools = await _pages(lambda c: client.list_tools(cursor=c), "tools")
        if capabilities.prompts is not None:
            listing.prompts = await _pages(lambda c: client.list_prompts(cursor=c), "prompts")
        if capabilities.resources is not None:
            listing.resources = await _pages(lambda c: client.list_resources(cursor=c), "resources")
    if target.allowlist:
        listing.tools = [tool for tool in listing.tools if tool.name in target.allowlist]
    return listing


async def list_tools(target: Target) -> list[types.Tool]:
    """Every tool of the server (all pages), filtered by the connection's allowlist."""
    return (await describe(target)).tools


async def get_prompt(
    target: Target, name: str, arguments: dict[str, str], org_slug: str
) -> types.GetPromptResult:
    async with _guard(target, f"prompts/get {name}"), _pooled_client(target) as client:
        return await client.get_prompt(name, arguments, meta={ORG_META_KEY: org_slug})


async def read_resource(target: Target, uri: str, org_slug: str) -> types.ReadResourceResult:
    async with _guard(target, "resources/read"), _pooled_client(target) as client:
        return await client.read_resource(uri, meta={ORG_META_KEY: org_slug})


async def call_tool(
    target: Target,
    tool: str,
    arguments: dict[str, Any],
    org_slug: str,
    *,
    progress: Callable[[float, float | None, str | None], Any] | None = None,
    log: Callable[[Any], Any] | None = None,
    log_level: str | None = None,
) -> types.CallToolResult:
    """Call ``tool`` on the server for the organization; the result comes back unchanged.

    With ``log`` (the caller opted in to log messages) the call gets a client of its own, so the
    server's log messages for this call reach this caller only; otherwise the pooled client."""
    if log is not None:
        async with (
            _guard(target, f"tools/call {tool}"),
            open_client(target, logging_callback=log, log_level=log_level) as client,
        ):
            return await client.call_tool(
                tool, arguments, progress_callback=progress, meta={ORG_META_KEY: org_slug}
            )
    async with _guard(target, f"tools/call {tool}"), _pooled_client(target) as client:
        return await client.call_tool(
            tool,
            arguments,
            progress_callback=progress,
            meta={ORG_META_KEY: org_slug},
        )
