"""The gateway's MCP server: one low-level SDK ``Server`` whose handlers answer for the
organization of the current request (``current_context``), from its catalogue.

Protocol work (JSON-RPC, version negotiation, result shaping per revision) is the SDK's; this
module decides *what* an organization sees and forwards tool calls.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import json
import logging
import time
from functools import lru_cache
from typing import Any

import jsonschema
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, LOG_LEVEL_META_KEY

from omni.gateway import downstream, observing
from omni.gateway.catalogue import Catalogue, cached_catalogue, get_catalogue, refreshed_catalogue
from omni.gateway.listen import subscriptions_listen
from omni.gateway.recording import AuditTarget, record_later
from omni.registry import services as registry
from omni.registry.access import uri_spellings
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
        log_level = _requested_log_level(ctx)
        forward_log = None
        if log_level is not None:

            async def forward_log(entry: types.LoggingMessageNotificationParams) -> None:
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
        if catalogue.allows(org_ctx, "resource", t.uri_template)  # rules match the URI template
    ]
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


async def read_resource(ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams):
    org_ctx = _org_context(ctx)
    _require_scope(org_ctx, "resources:read")
    uri = str(params.uri)
    bad_uri = check_uri(uri)
    if bad_uri:
        raise MCPError(
            code=INVALID_PARAMS, message=f"Invalid resource URI: {bad_uri}", data={"uri": uri[:200]}
        )
    catalogue = await get_catalogue(org_ctx.organization)
    # Every spelling of the URI must be allowed (as written, normalised, as a template expands it):
    # a deny rule on notes://secret/* also refuses notes://%73ecret/summary (registry/access.py).
    spellings = uri_spellings(uri, [template.uri_template for template in catalogue.templates])
    if not all(catalogue.allows(org_ctx, "resource", spelling) for spelling in spellings):
        _denied(org_ctx, "resource", uri)
        raise MCPError(code=INVALID_PARAMS, message=f"Resource not found: {uri}", data={"uri": uri})
    result = _read(catalogue, uri)
    route = catalogue.resource_routes.get(uri)
    if result is None and route is not None:
        try:
            return await downstream.read_resource(route.target, uri, org_ctx.org_slug)
        except downstream.DownstreamError as exc:
            raise _downstream_error(exc) from None
    if result is None:
        raise MCPError(
            code=INVALID_PARAMS, message=f"Resource not found: {params.uri}", data={"uri": params.uri}
        )
    return result


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
        on_subscriptions_listen=subscriptions_listen,
    )


gateway_server = build_gateway_server()
if observing.enabled():
    observing.install(gateway_server)
