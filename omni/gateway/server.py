"""The gateway's MCP server: one low-level SDK ``Server`` whose handlers answer for the
organization of the current request (``current_context``), from its catalogue.

Protocol work (JSON-RPC, version negotiation, result shaping per revision) is the SDK's; this
module decides *what* an organization sees and forwards tool calls.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import contextvars
import json
import logging
import time
import warnings
from functools import lru_cache
from typing import Any

import anyio
import jsonschema
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp_types import INVALID_PARAMS, LOG_LEVEL_META_KEY

from omni.gateway import downstream, links, observing, resource_updates
from omni.gateway.catalogue import Catalogue, cached_catalogue, get_catalogue, refreshed_catalogue
from omni.gateway.completion import complete
from omni.gateway.listen import subscriptions_listen
from omni.gateway.recording import AuditTarget, record_later
from omni.gateway.sessions import SessionRecord, current_session, get_backend
from omni.registry import services as registry
from omni.registry.access import uri_spellings
from omni.registry.templating import UriTemplateError, match_uri
from omni.security import schemas as safe_schemas
from omni.security.limits import check_json_limits, check_uri
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)

# Implementation-defined error codes (the -32000..-32019 band).
DOWNSTREAM_FAILED = -32010
DOWNSTREAM_TIMEOUT = -32011
UNAUTHORIZED_SCOPE = -32012
DOWNSTREAM_TOO_LARGE = -32015  # a downstream limit (docs/security.md, "Downstream limits")
SERVER_UNAVAILABLE = -32016  # the server's circuit breaker is open (omni/gateway/breaker.py)
CATALOGUE_META_KEY = "io.omni/catalogue"
# How long a tools/call waits for the first listing of its tool's server (then "Unknown tool").
PENDING_LISTING_WAIT_SECONDS = 30.0

current_context: contextvars.ContextVar[OrgContext | None] = contextvars.ContextVar(
    "omni_org_context", default=None
)

MAX_CURSOR_LENGTH = 200


def _org_context(ctx: ServerRequestContext[Any, Any]) -> OrgContext:
    org_ctx = current_context.get()
    if org_ctx is None and ctx.request is not None:
        org_ctx = getattr(ctx.request, "scope", {}).get("omni.ctx")
    if org_ctx is None:  # the ASGI front always sets it; reaching this is a wiring bug
        raise MCPError(code=types.INTERNAL_ERROR, message="no organization context for this request")
    return org_ctx


def _require_scope(org_ctx: OrgContext, scope: str) -> None:
    if scope not in org_ctx.scopes:
        record_later("access.denied", ctx=org_ctx, data={"reason": "scope", "required_scope": scope})
        raise MCPError(
            code=UNAUTHORIZED_SCOPE,
            message=f"this API key lacks the '{scope}' scope",
            data={"required_scope": scope},
        )


def _denied(org_ctx: OrgContext, kind: str, name: str) -> None:
    record_later(
        "access.denied", ctx=org_ctx, data={"reason": "access_rule", "kind": kind, "name": name[:200]}
    )


# --------------------------------------------------------------------------- pagination
def _page(
    items: list[Any], params: types.PaginatedRequestParams | None, page_size: int
) -> tuple[list, str | None]:
    from django.conf import settings

    size = page_size or settings.MCP_PAGE_SIZE
    offset = 0
    cursor = params.cursor if params is not None else None
    if cursor:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise MCPError(code=INVALID_PARAMS, message="invalid cursor")
        try:
            decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
            offset = int(decoded["o"])
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise MCPError(code=INVALID_PARAMS, message="invalid cursor") from None
        if offset < 0 or offset > len(items):
            raise MCPError(code=INVALID_PARAMS, message="invalid cursor")
    page = items[offset : offset + size]
    next_offset = offset + size
    next_cursor = None
    if next_offset < len(items):
        next_cursor = base64.urlsafe_b64encode(json.dumps({"o": next_offset}).encode()).decode()
    return page, next_cursor


# --------------------------------------------------------------------------- tools
@lru_cache(maxsize=2048)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    """The safe validator (RE2 patterns, work counted: ``omni.security.schemas``) of one inputSchema."""
    return safe_schemas.build_validator(json.loads(schema_json))


def validate_arguments(tool: types.Tool, arguments: dict[str, Any]) -> list[str]:
    """Every way ``arguments`` break the tool's inputSchema (empty when they are valid).

    The schema comes from a downstream server, so it is evaluated on RE2 within the
    ``SCHEMA_MAX_*`` budget; a schema that cannot be checked that way is one problem naming why
    (the call is refused, never checked with Python's ``re`` instead).
    """
    try:
        validator = _validator(json.dumps(tool.input_schema, sort_keys=True))
        errors = safe_schemas.collect_errors(validator, arguments)
    except safe_schemas.SchemaProblem as exc:
        logger.warning("tool %s: inputSchema not checkable: %s", tool.name, exc)
        return [f"the tool's inputSchema cannot be checked safely: {exc}"]
    errors.sort(key=lambda e: list(e.absolute_path))
    messages = []
    for error in errors[:10]:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        messages.append(f"{where}: {error.message}")
    return messages


async def list_tools(ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None):
    org_ctx = _org_context(ctx)
    catalogue = await get_catalogue(org_ctx.organization)
    tools = [tool for tool in catalogue.tools if catalogue.allows(org_ctx, "tool", tool.name)]
    page, next_cursor = _page(tools, params, 0)
    status = catalogue.status()  # stale, unavailable or pending servers (docs/gateway.md)
    if status is not None and "withheld" in status:  # only names this caller may see
        status["withheld"] = {
            server: [n for n in names if catalogue.allows(org_ctx, "tool", n)]
            for server, names in status["withheld"].items()
        }
    meta = {CATALOGUE_META_KEY: status} if status is not None else None
    return types.ListToolsResult(tools=page, next_cursor=next_cursor, _meta=meta)


async def call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "tools:call")
    arguments = params.arguments or {}
    too_big = check_json_limits(arguments)
    if too_big:
        raise MCPError(code=INVALID_PARAMS, message=f"Invalid arguments for tool {params.name}: {too_big}")
    catalogue = await get_catalogue(org_ctx.organization)
    route = catalogue.routes.get(params.name)
    if route is None and (listing := _pending_listing(catalogue, params.name)) is not None:
        # The tool's server is being listed for the first time (added a moment ago, or slow to
        # answer): wait for that listing, bounded, rather than answer "Unknown tool".
        await asyncio.wait({listing}, timeout=PENDING_LISTING_WAIT_SECONDS)
        catalogue = await refreshed_catalogue(org_ctx.organization)
        route = catalogue.routes.get(params.name)
    if route is not None and not catalogue.allows(org_ctx, "tool", params.name):
        # Hidden by an access rule: refused exactly like a tool that does not exist.
        _denied(org_ctx, "tool", params.name)
        route = None
    if route is None:
        _raise_if_withheld(catalogue, org_ctx, params.name)
        raise MCPError(
            code=INVALID_PARAMS, message=f"Unknown tool: {params.name}", data={"tool": params.name}
        )
    started = time.perf_counter()
    outcome = "error"
    try:
        problems = validate_arguments(route.tool, arguments)
        if problems:
            # A tool-execution error (not a protocol error), so a model can read it and correct itself.
            outcome = "invalid_arguments"
            text = f"Invalid arguments for tool {params.name}: " + "; ".join(problems)
            return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)

        # Forward the server's progress to the caller; report_progress does nothing when the caller
        # asked for none (no progress token), so the callback is always passed.
        async def progress(value: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(value, total, message)

        # A 2026-07-28 caller that opted in to log messages (the reserved _meta key) gets the
        # server's log messages for this call, at its level and above.
        # A handshake-era caller gets them once it set a level for its session (logging/setLevel).
        log_level = _requested_log_level(ctx) or await _session_log_level()
        forward_log = None
        if log_level is not None:
            threshold = log_level

            async def forward_log(entry: types.LoggingMessageNotificationParams) -> None:
                if _at_least(entry.level, threshold):
                    await ctx.session.send_log_message(
                        entry.level, entry.data, entry.logger, related_request_id=ctx.request_id
                    )

        try:
            result = await downstream.call_tool(
                route.target,
                route.original_name,
                arguments,
                org_ctx.org_slug,
                progress=progress,
                log=forward_log,
                log_level=log_level,
            )
        except downstream.DownstreamError as exc:
            outcome = {"timeout": "timeout", "too_large": "too_large", "circuit_open": "circuit_open"}.get(
                exc.kind, "server_error"
            )
            if exc.kind == "too_large":  # a tool error naming the limit, readable by a model
                return types.CallToolResult(
                    content=[types.TextContent(type="text", text=str(exc))], is_error=True
                )
            raise _downstream_error(exc) from None
        outcome = "tool_error" if result.is_error else "ok"
        await _remember_links(org_ctx, route.target, result)
        return result
    finally:
        record_later(
            "mcp.tools_call",
            ctx=org_ctx,
            target=AuditTarget("mcp.tool", params.name, params.name),
            data={
                "tool": params.name,
                "server": route.target.name,
                "outcome": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "arguments": arguments,
            },
        )


async def _remember_links(
    org_ctx: OrgContext, target: downstream.Target, result: types.CallToolResult
) -> None:
    """The resources a tool result hands out become readable through the gateway (links.py)."""
    uris = links.linked_uris(result)
    if uris:
        try:
            await links.remember(org_ctx.org_id, target.name, uris)
        except Exception as exc:  # the result still goes out; only reading the links back fails
            logger.warning("resource links of org %s not remembered: %r", org_ctx.org_id, exc)


def _pending_listing(catalogue: Catalogue, name: str) -> asyncio.Future | None:
    """The listing in flight of the server that ``name`` (``server__tool``) belongs to, if any."""
    server, sep, _tool = name.partition("__")
    return catalogue.pending.get(server) if sep else None


def _raise_if_withheld(catalogue: Any, org_ctx: OrgContext, name: str) -> None:
    """A tool of a server that is down (withheld from the catalogue): say so, naming the server,
    rather than "Unknown tool" (-32016, like an open circuit breaker)."""
    for server, names in catalogue.withheld.items():
        if name in names and catalogue.allows(org_ctx, "tool", name):
            reason = catalogue.unavailable.get(server, "down")
            raise MCPError(
                code=SERVER_UNAVAILABLE,
                message=f"server '{server}': unavailable ({reason[:200]}); its tools return when it answers",
                data={"server": server, "tool": name},
            )


def _requested_log_level(ctx: ServerRequestContext[Any, Any]) -> str | None:
    meta = ctx.meta
    if meta is None:
        return None
    value = meta.get(LOG_LEVEL_META_KEY) if isinstance(meta, dict) else getattr(meta, "log_level", None)
    return value if isinstance(value, str) else None


def _downstream_error(exc: downstream.DownstreamError) -> MCPError:
    code = DOWNSTREAM_TIMEOUT if exc.kind == "timeout" else DOWNSTREAM_FAILED
    if exc.kind == "too_large":
        code = DOWNSTREAM_TOO_LARGE
    if exc.kind == "circuit_open":
        return MCPError(code=SERVER_UNAVAILABLE, message=str(exc), data=exc.data)
    if exc.code is not None:
        code = exc.code
    return MCPError(code=code, message=str(exc), data={"server": exc.server})


# --------------------------------------------------------------------------- prompts
def _prompt_type(prompt: Any) -> types.Prompt:
    return types.Prompt(
        name=prompt.name,
        title=prompt.title or None,
        description=prompt.description or None,
        arguments=[
            types.PromptArgument(
                name=arg["name"],
                description=arg.get("description") or None,
                required=bool(arg.get("required")),
            )
            for arg in (prompt.arguments or [])
        ],
    )


async def list_prompts(ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "prompts:read")
    catalogue = await get_catalogue(org_ctx.organization)
    prompts = [_prompt_type(p) for p in catalogue.prompts.values()]
    prompts += [route.prompt for route in catalogue.prompt_routes.values()]
    prompts = [p for p in prompts if catalogue.allows(org_ctx, "prompt", p.name)]
    page, next_cursor = _page(prompts, params, 0)
    return types.ListPromptsResult(prompts=page, next_cursor=next_cursor)


async def get_prompt(ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "prompts:read")
    too_big = check_json_limits(dict(params.arguments or {}), max_depth=2, max_items=200)
    if too_big:
        raise MCPError(code=INVALID_PARAMS, message=f"Invalid prompt arguments: {too_big}")
    catalogue = await get_catalogue(org_ctx.organization)
    prompt = catalogue.prompts.get(params.name)
    route = catalogue.prompt_routes.get(params.name)
    if (prompt is not None or route is not None) and not catalogue.allows(org_ctx, "prompt", params.name):
        _denied(org_ctx, "prompt", params.name)
        prompt = route = None
    if prompt is None and route is not None:
        try:
            return await downstream.get_prompt(
                route.target, route.original_name, dict(params.arguments or {}), org_ctx.org_slug
            )
        except downstream.DownstreamError as exc:
            raise _downstream_error(exc) from None
    if prompt is None:
        raise MCPError(
            code=INVALID_PARAMS, message=f"Unknown prompt: {params.name}", data={"prompt": params.name}
        )
    try:
        messages = registry.render_prompt(prompt, dict(params.arguments or {}))
    except registry.PromptArgumentError as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc), data={"prompt": params.name}) from None
    return types.GetPromptResult(
        description=prompt.description or None,
        messages=[
            types.PromptMessage(role=m["role"], content=types.TextContent(type="text", text=m["text"]))
            for m in messages
        ],
    )


# --------------------------------------------------------------------------- resources
def _resource_type(resource: Any) -> types.Resource:
    size = len(resource.text.encode()) if resource.text else len(bytes(resource.blob or b""))
    return types.Resource(
        uri=resource.uri,
        name=resource.name,
        title=resource.title or None,
        description=resource.description or None,
        mime_type=resource.mime_type or None,
        size=size,
    )


async def list_resources(ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "resources:read")
    catalogue = await get_catalogue(org_ctx.organization)
    resources = [_resource_type(r) for r in catalogue.resources.values()]
    resources += [route.resource for route in catalogue.resource_routes.values()]
    resources = [r for r in resources if catalogue.allows(org_ctx, "resource", str(r.uri))]
    page, next_cursor = _page(resources, params, 0)
    return types.ListResourcesResult(resources=page, next_cursor=next_cursor)


async def list_resource_templates(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "resources:read")
    catalogue = await get_catalogue(org_ctx.organization)
    templates = [
        types.ResourceTemplate(
            uri_template=t.uri_template,
            name=t.name,
            title=t.title or None,
            description=t.description or None,
            mime_type=t.mime_type or None,
        )
        for t in catalogue.templates
    ]
    templates += [route.template for route in catalogue.template_routes.values()]
    # Rules match the URI template (as for the database's templates).
    templates = [t for t in templates if catalogue.allows(org_ctx, "resource", t.uri_template)]
    page, next_cursor = _page(templates, params, 0)
    return types.ListResourceTemplatesResult(resource_templates=page, next_cursor=next_cursor)


def _read(catalogue: Catalogue, uri: str) -> types.ReadResourceResult | None:
    resource = catalogue.resources.get(uri)
    if resource is not None:
        if resource.blob is not None and not resource.text:
            blob = base64.b64encode(bytes(resource.blob)).decode()
            contents: Any = types.BlobResourceContents(
                uri=uri, mime_type=resource.mime_type or None, blob=blob
            )
        else:
            contents = types.TextResourceContents(
                uri=uri, mime_type=resource.mime_type or None, text=resource.text
            )
        return types.ReadResourceResult(contents=[contents])
    for template in catalogue.templates:
        variables = registry.match_resource_template(template, uri)
        if variables is not None:
            text = registry.render_resource_template(template, variables)
            return types.ReadResourceResult(
                contents=[
                    types.TextResourceContents(uri=uri, mime_type=template.mime_type or None, text=text)
                ]
            )
    return None


def _uri_templates(catalogue: Catalogue) -> list[str]:
    """Every URI template of the organization: the database's, then its servers'."""
    return [t.uri_template for t in catalogue.templates] + [
        route.template.uri_template for route in catalogue.template_routes.values()
    ]


def _checked_uri(org_ctx: OrgContext, catalogue: Catalogue, uri: str) -> None:
    """Refuse a URI that is malformed, or that an access rule denies in any of its spellings (as
    written, normalised, as each matching template expands it): "not found", like an unknown one."""
    bad_uri = check_uri(uri)
    if bad_uri:
        raise MCPError(
            code=INVALID_PARAMS, message=f"Invalid resource URI: {bad_uri}", data={"uri": uri[:200]}
        )
    # A deny rule on notes://secret/* also refuses notes://%73ecret/summary (registry/access.py).
    spellings = uri_spellings(uri, _uri_templates(catalogue))
    if not all(catalogue.allows(org_ctx, "resource", spelling) for spelling in spellings):
        _denied(org_ctx, "resource", uri)
        raise MCPError(code=INVALID_PARAMS, message=f"Resource not found: {uri}", data={"uri": uri})


async def _serving_server(org_ctx: OrgContext, catalogue: Catalogue, uri: str) -> downstream.Target | None:
    """The organization's server that serves ``uri``: it lists it, one of its templates matches
    it, or one of its tools handed it out (a remembered resource link)."""
    route = catalogue.resource_routes.get(uri)
    if route is not None:
        return route.target
    for template_route in catalogue.template_routes.values():
        with contextlib.suppress(UriTemplateError):
            if match_uri(template_route.template.uri_template, uri) is not None:
                return template_route.target
    try:
        server = await links.server_of(org_ctx.org_id, uri)
    except Exception as exc:  # the link memory (Redis) is away: only listed and templated URIs
        logger.warning("resource links of org %s unreadable: %r", org_ctx.org_id, exc)
        return None
    return catalogue.target_named(server) if server else None


async def read_resource(ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "resources:read")
    uri = str(params.uri)
    catalogue = await get_catalogue(org_ctx.organization)
    _checked_uri(org_ctx, catalogue, uri)
    result = _read(catalogue, uri)
    if result is not None:
        return result
    target = await _serving_server(org_ctx, catalogue, uri)
    if target is None:
        raise MCPError(
            code=INVALID_PARAMS, message=f"Resource not found: {params.uri}", data={"uri": params.uri}
        )
    try:
        return await downstream.read_resource(target, uri, org_ctx.org_slug)
    except downstream.DownstreamError as exc:
        raise _downstream_error(exc) from None


def _in_database(catalogue: Catalogue, uri: str) -> bool:
    if uri in catalogue.resources:
        return True
    return any(registry.match_resource_template(t, uri) is not None for t in catalogue.templates)


async def subscribe_resource(ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams):
    """``resources/subscribe`` (handshake revisions): forwarded to the server that serves the URI;
    its updates reach this session's standalone stream (``resource_updates``)."""
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "resources:read")
    record = _session_or_refuse("resources/subscribe")
    uri = str(params.uri)
    catalogue = await get_catalogue(org_ctx.organization)
    _checked_uri(org_ctx, catalogue, uri)
    target = None if _in_database(catalogue, uri) else await _serving_server(org_ctx, catalogue, uri)
    if target is None and not _in_database(catalogue, uri):
        raise MCPError(code=INVALID_PARAMS, message=f"Resource not found: {uri}", data={"uri": uri})
    try:
        timeout = target.timeout if target is not None else 30.0
        with anyio.fail_after(timeout):
            await resource_updates.subscribe(record, target, uri)
    except resource_updates.SubscriptionRefused as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc), data={"uri": uri}) from None
    except MCPError as exc:
        server = target.name if target is not None else ""
        raise MCPError(
            code=DOWNSTREAM_FAILED, message=f"server '{server}': {exc.error.message}", data={"server": server}
        ) from None
    except TimeoutError:
        raise MCPError(code=DOWNSTREAM_TIMEOUT, message="resources/subscribe timed out") from None
    except Exception as exc:
        logger.info("resources/subscribe of %s failed: %r", uri[:200], exc)
        raise MCPError(code=DOWNSTREAM_FAILED, message="the server could not be subscribed") from None
    return types.EmptyResult()


async def unsubscribe_resource(ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "resources:read")
    record = _session_or_refuse("resources/unsubscribe")
    await resource_updates.unsubscribe(record, str(params.uri))
    return types.EmptyResult()


def _session_or_refuse(method: str) -> SessionRecord:
    record = current_session.get()
    if record is None:
        raise MCPError(code=types.INVALID_REQUEST, message=f"{method} needs a session (initialize first)")
    return record


# --------------------------------------------------------------------------- logging
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
LOG_LEVEL_ATTR = "log_level"


async def set_logging_level(ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams):
    """``logging/setLevel`` (handshake revisions): the session's level, kept on the session; each
    tool call of the session then forwards the level to its server and relays the server's log
    messages at that level and above."""
    _org_context(ctx)
    record = _session_or_refuse("logging/setLevel")
    if params.level not in LOG_LEVELS:
        raise MCPError(code=INVALID_PARAMS, message=f"unknown log level {params.level!r}")
    await get_backend().set_attr(record.session_id, LOG_LEVEL_ATTR, params.level)
    return types.EmptyResult()


async def _session_log_level() -> str | None:
    record = current_session.get()
    if record is None:
        return None
    level = await get_backend().get_attr(record.session_id, LOG_LEVEL_ATTR)
    return level if level in LOG_LEVELS else None


def _at_least(level: str, threshold: str) -> bool:
    return level in LOG_LEVELS and LOG_LEVELS.index(level) >= LOG_LEVELS.index(threshold)


def cached_tool_schema(name: str) -> dict[str, Any] | None:
    """The inputSchema of ``name`` in the current organization's already-built catalogue.

    The SDK asks this (synchronously) to check ``Mcp-Param-*`` headers on 2026-07-28 calls; without
    it, it would list every tool once per call. None (no catalogue yet, unknown tool) skips only
    that header check: ``call_tool`` still validates the arguments against the schema.
    """
    org_ctx = current_context.get()
    if org_ctx is None:
        return None
    catalogue = cached_catalogue(org_ctx.org_id)
    route = catalogue.routes.get(name) if catalogue is not None else None
    return route.tool.input_schema if route is not None else None


def build_gateway_server() -> Server:
    with warnings.catch_warnings():
        # logging/setLevel is deprecated in 2026-07-28; the gateway serves it to the older revisions.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        return _build_gateway_server()


def _build_gateway_server() -> Server:
    return Server(
        "omni-gateway",
        version="0.1.0",
        title="Omni MCP Platform",
        instructions=(
            "Tools of this organization's MCP servers, namespaced '<server>__<tool>', "
            "plus the organization's prompts and resources."
        ),
        get_tool_input_schema=cached_tool_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe_resource,
        on_unsubscribe_resource=unsubscribe_resource,
        on_subscriptions_listen=subscriptions_listen,
        on_completion=complete,
        on_set_logging_level=set_logging_level,
    )


gateway_server = build_gateway_server()
if observing.enabled():
    observing.install(gateway_server)
