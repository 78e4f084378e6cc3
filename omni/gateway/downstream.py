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
import warnings
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
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from omni.gateway import breaker, downstream_limits, health, output_schemas, pool, tracing
from omni.gateway.downstream_limits import ByteCap, DownstreamLimits
from omni.gateway.signing import GatewaySigner
from omni.security import egress, failures

logger = logging.getLogger(__name__)

ORG_META_KEY = "io.omni/org"
MAX_TOOL_PAGES = 50


class DownstreamError(Exception):
    """A downstream server could not answer: down, timed out, or broke the protocol."""

    def __init__(
        self, server: str, message: str, *, code: int | None = None, data: Any = None, kind: str = "error"
    ) -> None:
        super().__init__(f"server '{server}': {message}")
        self.server = server
        self.code = code
        self.data = data
        # "timeout", "unreachable" (transport failure), "too_large" (a downstream limit), "error"
        self.kind = kind


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
    no_prefix: bool = False  # its tools and prompts keep their own names (no "<name>__")
    # The limits of the organization the target is used for (downstream_limits.limits_for).
    limits: DownstreamLimits = field(default_factory=downstream_limits.default_limits)

    def pool_key(self, scope: str = "") -> str:
        """Which pooled clients serve this target: the connection (with its last change) and the
        response limit its HTTP client enforces; ``scope`` for a per-caller session (issue 11)."""
        return f"{self.key}|{self.limits.max_response_bytes}|{scope}"

    @property
    def listing_key(self) -> str:
        return f"{self.key}|{self.limits.key}"

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
            no_prefix=bool(getattr(conn, "no_prefix", False)),
        )


_inprocess_servers: dict[tuple[str, tuple[str, ...]], Any] = {}
MAX_INPROCESS_INSTANCES = 256  # distinct (server, options) kept; the oldest is dropped beyond
# The era each URL answered in — (a modern version, its DiscoverResult) or ("legacy", None) — so a
# new client for it skips the probe yet keeps the server's real capabilities.
_url_modes: dict[str, tuple[str, Any]] = {}


def _inprocess_server(target: str, options: tuple[str, ...] = ()) -> Any:
    """The built-in server ``target``, one instance per distinct ``options`` (the connection's
    ``args``, for a server that takes options: ``MCP_INPROCESS_SERVERS`` in settings)."""
    key = (target, tuple(options))
    server = _inprocess_servers.get(key)
    if server is None:
        path = settings.MCP_INPROCESS_SERVERS.get(target)
        if path is None:
            raise DownstreamError(target, f"no built-in server named '{target}'")
        module_name, _, attr = path.partition(":")
        factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
        server = factory(list(options)) if options else factory()
        while len(_inprocess_servers) >= MAX_INPROCESS_INSTANCES:
            _inprocess_servers.pop(next(iter(_inprocess_servers)))  # clients in use keep theirs
        _inprocess_servers[key] = server
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
        elif isinstance(message, types.ResourceUpdatedNotification):
            from omni.gateway.resource_updates import relay

            try:
                await relay(target, str(message.params.uri))
            except Exception as exc:  # Redis away: the update is lost, the client carries on
                logger.warning("update of %s from %s not relayed: %r", message.params.uri, target.name, exc)

    return handle


@contextlib.asynccontextmanager
async def open_client(
    target: Target, *, logging_callback: Callable[[Any], Any] | None = None, log_level: str | None = None
) -> AsyncIterator[Client]:
    """An entered SDK client for ``target``; the caller bounds it with a timeout. With
    ``logging_callback`` (and ``log_level`` for 2026-07-28 servers) the server's log messages
    reach the callback. Tool results are checked against the server's output schemas on RE2,
    under a budget (``output_schemas``): the schemas are the server's, hence untrusted."""
    async with _open_client(target, logging_callback=logging_callback, log_level=log_level) as client:
        output_schemas.harden(client.session)
        yield client


@contextlib.asynccontextmanager
async def _open_client(
    target: Target, *, logging_callback: Callable[[Any], Any] | None, log_level: str | None
) -> AsyncIterator[Client]:
    on_change = _change_handler(target)
    logs: dict[str, Any] = {"logging_callback": logging_callback, "log_level": log_level}
    if target.transport == "inprocess":
        async with Client(
            _inprocess_server(target.target, target.args), cache=None, message_handler=on_change, **logs
        ) as client:
            yield client
        return
    if target.transport == "streamable_http":
        # A server that answered server/discover before is adopted from that answer (no probe);
        # a legacy one goes straight to the handshake.
        mode, prior = _url_modes.get(target.url, ("auto", None))
        # Each call is bounded by its own deadline (_guard). The HTTP read timeout only ends a POST
        # the server never answers after the call gave up; it is long because any exception of one
        # POST ends the SDK transport, and with it every call sharing the client.
        timeout = httpx2.Timeout(target.timeout, read=max(3 * target.timeout, 300.0))
        auth = GatewaySigner()  # every request signed (X-Omni-Signature, docs/signing.md)
        limit = target.limits.max_response_bytes
        # Every connection passes the egress policy (organizations' servers; docs/security.md), and
        # a body is read only up to the response limit.
        async with egress.http_client(target, headers=_headers(target), timeout=timeout, auth=auth) as http:
            http.event_hooks = {"request": [tracing.trace_headers], "response": [ByteCap(limit)]}
            transport = streamable_http_client(target.url, http_client=http, max_sse_event_size=limit)
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
            httpx_client_factory=_capped_factory(target),
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


def _capped_factory(target: Target) -> Callable[..., httpx2.AsyncClient]:
    """The httpx client factory for the legacy SSE transport: the egress policy and the body cap."""
    egress_factory = egress.client_factory(target)
    limit = target.limits.max_response_bytes

    def factory(**kwargs: Any) -> httpx2.AsyncClient:
        client = egress_factory(**kwargs)
        client.event_hooks = {"request": [tracing.trace_headers], "response": [ByteCap(limit)]}
        return client

    return factory


def _describe(exc: BaseException) -> str:
    """A category only (refused, timed out, TLS, not an MCP server…): the details, which may quote
    the response or tell open from closed ports, go to the server log."""
    return failures.failure_category(exc)


# --------------------------------------------------------------------------- pooled clients
# Long-lived SDK clients per server connection and event loop (omni/gateway/pool.py): no TCP
# connect, handshake or subprocess start per call. A timeout or a cancellation ends only its own
# call; a transport failure retires the client for new calls while calls in flight finish.


def _pool_size(target: Target) -> tuple[int, int]:
    """(clients at most, calls per client before another is opened) for ``target``."""
    if target.transport == "stdio":
        return 1, 1 << 30  # one subprocess per server connection and process
    return settings.MCP_DOWNSTREAM_CLIENTS_PER_SERVER, settings.MCP_DOWNSTREAM_CALLS_PER_CLIENT


def close_pool() -> None:
    """Drop every pooled client of every loop (tests, configuration reloads)."""
    pool.close_all()


@contextlib.asynccontextmanager
async def _pooled_client(target: Target, scope: str = "") -> AsyncIterator[Client]:
    """A pooled client for one exchange. ``scope`` separates clients (a per-caller session key for
    stateful servers, issue 11); the default "" is the one shared pool of the connection."""
    max_clients, per_client = _pool_size(target)
    async with pool.lease(
        target.pool_key(scope),
        lambda: open_client(target),
        max_clients=max_clients,
        calls_per_client=per_client,
        on_lost=lambda exc: health.failed(target, f"connection lost: {_describe(exc)}"),
    ) as client:
        yield client


def _current_ctx() -> Any:
    from omni.gateway.recording import current_http_scope

    scope = current_http_scope.get()
    return scope.get("omni.ctx") if scope else None


def record_limit(target: Target, limit: str, what: str, *, organization: Any = None, **data: Any) -> None:
    """Audit a refusal by a downstream limit (``quota.exceeded``)."""
    from omni.gateway.recording import record_later

    ctx = _current_ctx() if organization is None else None
    record_later(
        "quota.exceeded",
        ctx=ctx,
        organization=organization,
        data={"limit": limit, "server": target.name, "what": what[:200], **data},
    )


@contextlib.asynccontextmanager
async def _forward_span(target: Target, method: str, name: str) -> AsyncIterator[None]:
    """The forward to the downstream server as a CLIENT span (only when tracing is on)."""
    if not tracing.ENABLED:
        yield
        return
    attributes = {"mcp.method.name": method, "omni.server": target.name, "omni.transport": target.transport}
    if method == "tools/call":
        attributes["gen_ai.tool.name"] = name
    elif method == "prompts/get":
        attributes["gen_ai.prompt.name"] = name
    if target.url:
        attributes["url.full"] = target.url
    with tracing.span(f"forward {method} {name}".rstrip(), kind="CLIENT", attributes=attributes):
        yield


def _sole_mcp_error(group: BaseExceptionGroup) -> MCPError | None:
    """The one ``MCPError`` a (nested) exception group holds, if that is all it holds."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending and len(leaves) < 2:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    if len(leaves) == 1 and not pending and isinstance(leaves[0], MCPError):
        return leaves[0]
    return None


@contextlib.asynccontextmanager
async def _guard(target: Target, what: str) -> AsyncIterator[None]:
    """Bound a downstream exchange by the timeout and turn every failure into DownstreamError.
    A transport failure also tells ``health`` that the server is down (its tools are withheld).
    The circuit breaker (omni/gateway/breaker.py) refuses the exchange at once while it is open,
    and hears of every timeout and transport failure, and of the answer that ends them."""
    try:
        await breaker.before(target)
    except breaker.BreakerOpen as exc:
        raise DownstreamError(
            target.name,
            f"unavailable: the circuit breaker is open after repeated failures ({exc.reason}); "
            f"next attempt in {exc.retry_after:.0f}s",
            data={"server": target.name, "retry_after": round(exc.retry_after, 1)},
            kind="circuit_open",
        ) from None
    failed: tuple[str, str] | None = None
    answered = False
    try:
        try:
            with anyio.fail_after(target.timeout):
                try:
                    yield
                except BaseExceptionGroup as group:
                    # The server's own error answer, wrapped by task groups on the way (an
                    # in-process server under the playground runner): handled as that answer.
                    sole = _sole_mcp_error(group)
                    if sole is None:
                        raise
                    raise sole from None
            answered = True
        except DownstreamError:
            raise
        except TimeoutError:
            failed = ("timeout", "timeout")
            raise DownstreamError(
                target.name, f"{what} timed out after {target.timeout:g}s", kind="timeout"
            ) from None
        except MCPError as exc:
            if downstream_limits.MARKER in exc.error.message or "byte limit" in exc.error.message:
                message = downstream_limits.too_large(
                    f"the answer to {what}", "max_response_bytes", target.limits.max_response_bytes
                )
                record_limit(target, "max_response_bytes", what)
                answered = True
                raise DownstreamError(target.name, message, kind="too_large") from None
            if pool.is_transport_failure(exc):
                failed = ("unreachable", _describe(exc))
                if breaker.bypass.get() != breaker.TEST:
                    health.failed(target, exc.error.message)
                logger.info("downstream %s failed during %s: %r", target.name, what, exc)
                raise DownstreamError(
                    target.name, f"{what} failed: {_describe(exc)}", kind="unreachable"
                ) from exc
            if failures.is_sdk_synthesised(exc.error.message):  # not the server's answer: may quote the body
                failed = ("unreachable", _describe(exc))
                logger.info("downstream %s failed during %s: %r", target.name, what, exc)
                raise DownstreamError(target.name, f"{what} failed: {_describe(exc)}") from exc
            answered = True  # the server's own error answer: it is there
            raise DownstreamError(
                target.name, exc.error.message, code=exc.error.code, data=exc.error.data
            ) from exc
        except Exception as exc:  # anything the transport throws (connection refused, bad JSON…)
            logger.info("downstream %s failed during %s: %r", target.name, what, exc)
            failed = ("unreachable", _describe(exc))
            if pool.is_transport_failure(exc) and breaker.bypass.get() != breaker.TEST:
                health.failed(target, _describe(exc))
            raise DownstreamError(
                target.name, f"{what} failed: {_describe(exc)}", kind="unreachable"
            ) from exc
    finally:
        # Cancelled from outside (the caller went away): no verdict on the server.
        if failed is not None:
            await breaker.failure(target, failed[0], failed[1])
        elif answered:
            await breaker.success(target)


def _check_size(target: Target, what: str, result: Any) -> Any:
    """Refuse an answer over ``max_response_bytes`` (transports that cannot stop reading early:
    stdio, in-process; over HTTP the body was already cut off while it streamed in)."""
    health.answered(target)
    size = downstream_limits.result_bytes(result)
    limit = target.limits.max_response_bytes
    if size > limit:
        record_limit(target, "max_response_bytes", what, size=size)
        message = downstream_limits.too_large(f"the answer to {what}", "max_response_bytes", limit, size)
        raise DownstreamError(target.name, message, kind="too_large")
    return result


@dataclass
class Listing:
    """What one server offers: its tools (allowlist applied), prompts and resources. ``refused``
    names the definitions left out by ``max_definition_bytes`` (kind, name, size)."""

    tools: list[types.Tool] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)
    templates: list[types.ResourceTemplate] = field(default_factory=list)
    refused: list[tuple[str, str, int]] = field(default_factory=list)


async def _pages(target: Target, fetch: Callable[[str | None], Any], attribute: str, what: str) -> list[Any]:
    limit = target.limits.max_list_items
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await fetch(cursor)
        items.extend(getattr(page, attribute))
        if len(items) > limit:
            record_limit(target, "max_list_items", f"{attribute}/list", count=len(items))
            raise DownstreamError(
                target.name,
                f"its {attribute} listing has more than {limit} items; {downstream_limits.MARKER}: "
                "max_list_items (setting MCP_DOWNSTREAM_MAX_LIST_ITEMS, per organization in "
                "settings.downstream_limits)",
                kind="too_large",
            )
        cursor = page.next_cursor
        if not cursor:
            break
    return items


def _within_definition_limit(target: Target, listing: Listing, kind: str, items: list[Any]) -> list[Any]:
    limit = target.limits.max_definition_bytes
    kept = []
    for item in items:
        size = len(item.model_dump_json(by_alias=True, exclude_none=True))
        if size > limit:
            name = str(
                getattr(item, "name", "") or getattr(item, "uri", "") or getattr(item, "uri_template", "")
            )
            listing.refused.append((kind, name, size))
            logger.warning(
                "server %s: %s %s left out: its definition is %d bytes, over the %d byte limit "
                "(max_definition_bytes)",
                target.name,
                kind,
                name[:100],
                size,
                limit,
            )
        else:
            kept.append(item)
    return kept


async def describe(target: Target) -> Listing:
    """Every tool, prompt and resource of the server (all pages, as far as it offers them).

    A listing longer than ``max_list_items`` is refused (DownstreamError, kind "too_large"); a
    definition over ``max_definition_bytes`` is left out (``Listing.refused``)."""
    listing = Listing()
    async with _guard(target, "listing"), _pooled_client(target) as client:
        capabilities = client.server_capabilities
        if capabilities.tools is not None:
            listing.tools = await _pages(target, lambda c: client.list_tools(cursor=c), "tools", "tools")
        if capabilities.prompts is not None:
            listing.prompts = await _pages(
                target, lambda c: client.list_prompts(cursor=c), "prompts", "prompts"
            )
        if capabilities.resources is not None:
            listing.resources = await _pages(
                target, lambda c: client.list_resources(cursor=c), "resources", "resources"
            )
            listing.templates = await _templates(target, client)
    if target.allowlist:
        listing.tools = [tool for tool in listing.tools if tool.name in target.allowlist]
    listing.tools = _within_definition_limit(target, listing, "tool", listing.tools)
    listing.prompts = _within_definition_limit(target, listing, "prompt", listing.prompts)
    listing.resources = _within_definition_limit(target, listing, "resource", listing.resources)
    listing.templates = _within_definition_limit(target, listing, "template", listing.templates)
    health.answered(target)
    return listing


async def _templates(target: Target, client: Client) -> list[types.ResourceTemplate]:
    """The server's resource templates (all pages); none when it does not serve the method."""
    try:
        return await _pages(
            target, lambda c: client.list_resource_templates(cursor=c), "resource_templates", "templates"
        )
    except MCPError as exc:
        if exc.error.code == types.METHOD_NOT_FOUND:
            return []
        raise


async def list_tools(target: Target) -> list[types.Tool]:
    """Every tool of the server (all pages), filtered by the connection's allowlist."""
    return (await describe(target)).tools


async def get_prompt(
    target: Target, name: str, arguments: dict[str, str], org_slug: str
) -> types.GetPromptResult:
    what = f"prompts/get {name}"
    async with (
        _forward_span(target, "prompts/get", name),
        _guard(target, what),
        _pooled_client(target) as client,
    ):
        result = await client.get_prompt(name, arguments, meta={ORG_META_KEY: org_slug})
    return _check_size(target, what, result)


async def read_resource(target: Target, uri: str, org_slug: str) -> types.ReadResourceResult:
    async with (
        _forward_span(target, "resources/read", ""),
        _guard(target, "resources/read"),
        _pooled_client(target) as client,
    ):
        result = await client.read_resource(uri, meta={ORG_META_KEY: org_slug})
    return _check_size(target, "resources/read", result)


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
    what = f"tools/call {tool}"
    meta = {ORG_META_KEY: org_slug}
    if log is not None:
        log, delivered = _tracked(log)
        async with (
            _forward_span(target, "tools/call", tool),
            _guard(target, what),
            open_client(target, logging_callback=log, log_level=log_level) as client,
        ):
            if (
                log_level is not None
                and client.protocol_version not in MODERN_PROTOCOL_VERSIONS
                and client.server_capabilities.logging is not None
            ):
                # A handshake-era server hears the level on its own session (logging/setLevel).
                await set_logging_level(client, log_level)
            result = await client.call_tool(tool, arguments, progress_callback=progress, meta=meta)
            await delivered()
        return _check_size(target, what, result)
    async with (
        _forward_span(target, "tools/call", tool),
        _guard(target, what),
        _pooled_client(target) as client,
    ):
        result = await client.call_tool(tool, arguments, progress_callback=progress, meta=meta)
    return _check_size(target, what, result)


LOG_DRAIN_SECONDS = 5.0


def _tracked(log: Callable[[Any], Any]) -> tuple[Callable[[Any], Any], Callable[[], Any]]:
    """``log`` counted, and a wait for the messages being forwarded: the SDK client runs each
    notification in a task of its own, so the server's log messages, sent before its answer, may
    still be on their way when the answer is back; they must reach the caller before the answer."""
    state = {"busy": 0}
    idle = asyncio.Event()
    idle.set()

    async def counted(entry: Any) -> None:
        state["busy"] += 1
        idle.clear()
        try:
            await log(entry)
        finally:
            state["busy"] -= 1
            if not state["busy"]:
                idle.set()

    async def delivered() -> None:
        await asyncio.sleep(0)  # the notification tasks received before the answer start first
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(idle.wait(), LOG_DRAIN_SECONDS)

    return counted, delivered


async def set_logging_level(client: Client, level: str) -> None:
    """``logging/setLevel`` on a handshake-era downstream session (deprecated in 2026-07-28, hence
    the SDK's warning, silenced: the gateway forwards it only to servers of those revisions)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.set_logging_level(level)  # type: ignore[arg-type]


async def complete(
    target: Target,
    ref: types.PromptReference | types.ResourceTemplateReference,
    argument: types.CompletionArgument,
    context: types.CompletionContext | None,
    org_slug: str,
) -> types.CompleteResult:
    """``completion/complete`` on the server (``ref`` already in the server's own names)."""
    what = "completion/complete"
    async with _forward_span(target, what, ""), _guard(target, what), _pooled_client(target) as client:
        if client.server_capabilities.completions is None:
            return types.CompleteResult(completion=types.Completion(values=[]))
        request = types.CompleteRequest(
            params=types.CompleteRequestParams(
                ref=ref, argument=argument, context=context, _meta={ORG_META_KEY: org_slug}
            )
        )
        result = await client.session.send_request(request, types.CompleteResult)
    return _check_size(target, what, result)


async def probe(target: Target, *, test: bool = False) -> Listing:
    """A status probe (omni/monitoring/status/): a fresh connection (connect and initialize, or
    server/discover), then the complete listing, through the same opener as every call (egress
    policy, request signing, response limits). Not refused by an open circuit breaker: the probe
    is its half-open trial, and its outcome closes or re-opens it. Raises ``DownstreamError``.

    ``test``: a connection test of settings not saved yet (the server form): neither the breaker
    nor ``health`` hears of it (there is no connection of that name and key to mark)."""
    token = breaker.bypass.set(breaker.TEST if test else breaker.PROBE)
    try:
        listing = Listing()
        async with _guard(target, "probe"), open_client(target) as client:
            capabilities = client.server_capabilities
            if capabilities.tools is not None:
                listing.tools = await _pages(target, lambda c: client.list_tools(cursor=c), "tools", "tools")
            if capabilities.prompts is not None:
                listing.prompts = await _pages(
                    target, lambda c: client.list_prompts(cursor=c), "prompts", "prompts"
                )
            if capabilities.resources is not None:
                listing.resources = await _pages(
                    target, lambda c: client.list_resources(cursor=c), "resources", "resources"
                )
        if not test:
            health.answered(target)
        return listing
    finally:
        breaker.bypass.reset(token)
