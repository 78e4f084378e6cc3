"""The ASGI front of the gateway, mounted beside Django in ``omni/asgi.py``.

No Django middleware runs on ``/mcp``, ``/sse`` and ``/messages/``, so this front does what it
would: the ``Host`` check against ``ALLOWED_HOSTS``, ``Origin`` validation (DNS rebinding), the
body-size limit, authentication by bearer API key into an ``OrgContext``, and closing stale
database connections (at the start and the end of every request, whatever happened). Every
refusal is an HTTP status with a JSON-RPC error body, and so is every failure: Redis or PostgreSQL
unreachable (503), an unexpected exception (500), each with a request id that the log names too.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host

from omni.gateway import observing, sse, streamable, tracing
from omni.gateway.auth import authenticate
from omni.gateway.http import BodyTooLarge, header, json_error, read_body, send_json
from omni.gateway.recording import current_http_scope, record_later
from omni.gateway.redis_clients import is_outage
from omni.gateway.server import current_context
from omni.gateway.streams import end_body
from omni.gateway.sweeper import ensure_sweeper
from omni.security.ratelimit import WINDOW_SECONDS, ahit, limit_for
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)

MCP_PATHS = {
    "/mcp": "mcp",
    "/mcp/": "mcp",
    "/sse": "sse",
    "/sse/": "sse",
    "/messages": "messages",
    "/messages/": "messages",
}
UNAUTHORIZED = -32001
INTERNAL_ERROR = -32603
RATE_LIMITED = -32013


def origin_allowed(origin: str) -> bool:
    """Scheme, host and port compared by parts; a pattern's port is digits or ``*`` (see
    omni/security/origins.py): ``http://127.0.0.1:9999@evil.example`` is not ``http://127.0.0.1:*``."""
    from omni.security.origins import origin_allowed as matches

    return matches(origin, settings.MCP_ALLOWED_ORIGINS)


CORS_ALLOW_HEADERS = (
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id, x-api-key"
)
CORS_EXPOSE_HEADERS = "mcp-session-id, mcp-protocol-version, www-authenticate"


async def _preflight(send: Any, origin: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
                (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                (b"access-control-max-age", b"600"),
                (b"vary", b"Origin"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Any, origin: str) -> Any:
    async def send_with_cors(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [
                *message.get("headers", []),
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", CORS_EXPOSE_HEADERS.encode()),
                (b"vary", b"Origin"),
            ]
        await send(message)

    return send_with_cors


async def _rate_limited(ctx: OrgContext) -> tuple[int, str] | None:
    """Count the request against its API key's and its organization's per-minute limits (shared
    by every process through Redis). Returns (retry after seconds, limit name) when over.

    The keys of a load run whose limits a platform operator lifted (``ApiKey.rate_limit_exempt``,
    short-lived, docs/loadtesting.md) are not counted at all."""
    if ctx.api_key is not None and ctx.api_key.rate_limit_exempt:
        return None
    for key, name in (
        (f"mcp:key:{ctx.credential_id}", "mcp_per_key_per_minute"),
        (f"mcp:org:{ctx.org_id}", "mcp_per_org_per_minute"),
    ):
        allowed, retry_after = await ahit(key, limit_for(ctx.organization, name), WINDOW_SECONDS)
        if not allowed:
            return max(retry_after, 1), name
    return None


PEEK_BYTES = 64 * 1024


async def _peek_body(scope: dict, receive: Any) -> bytes:
    """The body of a refused POST when it is small (to name the refused method), else b""."""
    declared = header(scope, "content-length")
    if scope["method"] != "POST" or declared is None or not declared.isdigit() or int(declared) > PEEK_BYTES:
        return b""
    try:
        return await read_body(receive, PEEK_BYTES)
    except (BodyTooLarge, ConnectionAbortedError):
        return b""


def _bearer(scope: dict) -> str | None:
    value = header(scope, "authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return header(scope, "x-api-key")


class _GuardedSend:
    """Wraps ``send`` to know whether the response started and finished (after a failure the
    front answers with JSON-RPC only before the start, and otherwise just ends the body)."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self.started = False
        self.finished = False
        self.status = 0

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message.get("status", 0)
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self._send(message)


def _is_database_outage(exc: BaseException) -> bool:
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


def _jsonrpc_id(body: bytes) -> Any:
    try:
        message = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, int | str) and not isinstance(request_id, bool) else None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _answer_failure(send: _GuardedSend, exc: Exception, state: dict) -> None:
    """Any failure on an MCP path: an HTTP status with a JSON-RPC error body (-32603) carrying a
    request id that is also in the server log; never an HTML page, never silence."""
    request_id = state.get("request_id") or uuid.uuid4().hex
    leaves = _leaves(exc)
    if any(is_outage(leaf) for leaf in leaves):
        status, what = 503, "the session store (Redis) is unavailable"
    elif any(_is_database_outage(leaf) for leaf in leaves):
        status, what = 503, "the database is unavailable"
    else:
        status, what = 500, "an unexpected error occurred"
    if status == 503:
        logger.warning(
            "MCP %s %s failed, request id %s: %s: %r",
            state.get("method"),
            state.get("path"),
            request_id,
            what,
            exc,
        )
    else:
        logger.error(
            "MCP %s %s failed, request id %s",
            state.get("method"),
            state.get("path"),
            request_id,
            exc_info=exc,
        )
    try:
        if not send.started:
            payload = {
                "jsonrpc": "2.0",
                "id": _jsonrpc_id(state.get("body", b"")),
                "error": {
                    "code": INTERNAL_ERROR,
                    "message": f"Internal error: {what}; retry later (request id {request_id})",
                    "data": {"request_id": request_id},
                },
            }
            headers = {"retry-after": "1"} if status == 503 else None
            await send_json(send, status, payload, headers)
        elif not send.finished:
            await end_body(send)
    except Exception as send_error:  # the client is gone
        logger.debug("failure answer not sent: %r", send_error)


async def _close_connections(where: str) -> None:
    """Close database connections that are broken, obsolete or unusable (health-checked on next
    use); never raises."""
    try:
        await sync_to_async(close_old_connections)()
    except Exception as exc:
        logger.warning("closing database connections (%s) failed: %r", where, exc)


async def gateway_app(scope: dict, receive: Any, send: Any, kind: str) -> None:
    """The MCP front: nothing escapes it (an exception after ``http.response.start`` would poison
    daphne for the life of the process), and database connections are checked on every path."""
    guarded = _GuardedSend(send)
    state: dict[str, Any] = {"method": scope.get("method"), "path": scope.get("path")}
    observing.mark_arrival("streamable" if kind == "mcp" else "sse")
    if tracing.ENABLED:
        await _traced(scope, receive, guarded, kind, state)
        return
    await _close_connections("start")
    try:
        await _serve(scope, receive, guarded, kind, state)
    except Exception as exc:
        await _answer_failure(guarded, exc, state)
    finally:
        await _close_connections("end")


async def _traced(scope: dict, receive: Any, guarded: _GuardedSend, kind: str, state: dict) -> None:
    """``gateway_app`` inside a SERVER span that continues the caller's W3C trace context."""
    attributes = {"http.request.method": scope.get("method", ""), "url.path": scope.get("path", "")}
    with tracing.span(
        f"{scope.get('method')} {scope.get('path')}",
        kind="SERVER",
        attributes=attributes,
        headers=tracing.scope_headers(scope),
    ) as span:
        await _close_connections("start")
        try:
            await _serve(scope, receive, guarded, kind, state)
        except Exception as exc:
            span.record_exception(exc)
            await _answer_failure(guarded, exc, state)
        finally:
            await _close_connections("end")
            span.set_attribute("http.response.status_code", guarded.status)


async def _serve(scope: dict, receive: Any, send: Any, kind: str, state: dict) -> None:
    current_http_scope.set(scope)
    host = header(scope, "host") or ""
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        await json_error(send, 400, f"Invalid Host header: {host!r}")
        return
    origin = header(scope, "origin")
    if origin is not None and not origin_allowed(origin):
        await json_error(send, 403, f"Forbidden: Origin {origin!r} is not allowed")
        return
    if origin is not None:
        # A browser client from an allowed origin (e.g. the MCP Inspector in direct mode): CORS.
        if scope["method"] == "OPTIONS":
            await _preflight(send, origin)
            return
        send = _with_cors(send, origin)

    raw_key = _bearer(scope)
    if raw_key is None:
        await json_error(
            send,
            401,
            "Unauthorized: send an API key as 'Authorization: Bearer <key>'",
            code=UNAUTHORIZED,
            headers={"www-authenticate": 'Bearer realm="omni-mcp"'},
        )
        return
    with tracing.span("gateway.authenticate"):
        ctx = await authenticate(raw_key)
    if ctx is None:
        await json_error(
            send,
            401,
            "Unauthorized: the API key is invalid, expired or revoked",
            code=UNAUTHORIZED,
            headers={"www-authenticate": 'Bearer realm="omni-mcp", error="invalid_token"'},
        )
        return
    state["request_id"] = ctx.request_id

    with tracing.span("gateway.rate_limit"):
        limited = await _rate_limited(ctx)
    if limited is not None:
        retry_after, which = limited
        record_later("ratelimit.hit", ctx=ctx, data={"limit": which, "path": scope["path"]})
        observing.refused(ctx, "rate_limited", await _peek_body(scope, receive), detail=which)
        await json_error(
            send,
            429,
            f"Too Many Requests: the {which.replace('_', ' ')} limit is reached; retry after {retry_after}s",
            code=RATE_LIMITED,
            data={"retry_after": retry_after, "limit": which},
            headers={"retry-after": str(retry_after)},
        )
        return

    body = b""
    if scope["method"] == "POST":
        declared = header(scope, "content-length")
        limit = settings.MCP_MAX_BODY_BYTES
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await json_error(send, 413, f"Payload Too Large: the limit is {limit} bytes")
            return
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            await json_error(send, 413, f"Payload Too Large: the limit is {limit} bytes")
            return
        except ConnectionAbortedError:
            return
    state["body"] = body

    ensure_sweeper()
    scope["omni.ctx"] = ctx
    token = current_context.set(ctx)
    probe = observing.ResponseProbe(send) if body else None
    try:
        if kind == "mcp":
            await streamable.handle(scope, receive, probe or send, ctx, body)
        elif kind == "sse":
            await sse.handle_stream(scope, receive, send, ctx)
        else:
            await sse.handle_message(scope, receive, probe or send, ctx, body)
    finally:
        current_context.reset(token)
        if probe is not None:
            observing.answered_before_dispatch(ctx, body, probe)


class GatewayRouter:
    """Routes the MCP paths to the gateway and everything else to Django."""

    def __init__(self, django_app: Any) -> None:
        self.django_app = django_app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http":
            kind = MCP_PATHS.get(scope["path"])
            if kind is not None:
                await gateway_app(scope, receive, send, kind)
                return
        await self.django_app(scope, receive, send)

    @staticmethod
    async def _lifespan(receive: Any, send: Any) -> None:
        # Nothing to start eagerly (daphne sends no lifespan at all): everything starts lazily.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
