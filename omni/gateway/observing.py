"""The call sites of ``observe.py``: one ``RequestRecord`` per JSON-RPC request the gateway answered.

* ``ObserveMiddleware`` is the outermost SDK server middleware of the gateway's ``Server``: every
  request on every transport (Streamable HTTP with sessions, the 2026-07-28 single exchange, the
  legacy SSE transport) runs through ``ServerRunner``, so one wrapper sees every method, including
  ``initialize``, ``ping``, unknown methods and malformed params. Notifications (no id) are not
  requests and are not recorded.
* ``refused`` records what is turned away before JSON-RPC dispatch (rate limit, quota) for a known
  organization; the method comes from the body when it was read (``""`` otherwise, e.g. a GET
  stream).

The duration runs from the request's arrival at the ASGI front (``mark_arrival``) to its answer.
Only requests that arrived there are recorded: the playground drives the same ``Server``
in-process, and its runs are test runs (omni/playground), not MCP traffic.
"""

from __future__ import annotations

import contextvars
import json
import time
from typing import Any

from django.conf import settings
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import ValidationError

from omni.gateway import observe
from omni.gateway.catalogue import cached_catalogue

# Per HTTP request: when it arrived, on which transport, and whether a record was emitted for it.
# A dict (mutated, never re-set) so that tasks started with a copy of the context share it.
_request: contextvars.ContextVar[dict | None] = contextvars.ContextVar("omni_observed_request", default=None)

# Error codes of the gateway (omni/gateway/server.py) that are refusals or timeouts, not failures.
_UNAUTHORIZED_SCOPE = -32012
_DOWNSTREAM_TIMEOUT = -32011


def mark_arrival(transport: str = "") -> None:
    """Note when the current HTTP request arrived (and on which transport) for its records."""
    _request.set({"t": time.perf_counter(), "transport": transport, "emitted": False})


def set_transport(transport: str) -> None:
    state = _request.get()
    if state is not None:
        state["transport"] = transport


def _transport() -> str:
    state = _request.get()
    return state["transport"] if state is not None else ""


def _mark_emitted() -> None:
    state = _request.get()
    if state is not None:
        state["emitted"] = True


def _elapsed(started: float) -> float:
    state = _request.get()
    return time.perf_counter() - (state["t"] if state is not None else started)


def target_of(method: str, params: Any) -> str:
    """The tool or prompt name, or the resource URI, that a request names ("" when none)."""
    if not isinstance(params, dict):
        return ""
    if method in ("tools/call", "prompts/get"):
        name = params.get("name")
        return name[:200] if isinstance(name, str) else ""
    if method.startswith("resources/") and method not in ("resources/list", "resources/templates/list"):
        uri = params.get("uri")
        return uri[:500] if isinstance(uri, str) else ""
    return ""


def server_of(org_id: int | None, method: str, target: str) -> str:
    """The downstream server behind ``target`` in the organization's cached catalogue ("" when the
    target is gateway-local, unknown, or no catalogue is cached)."""
    if not target or org_id is None:
        return ""
    catalogue = cached_catalogue(org_id)
    if catalogue is None:
        return ""
    if method == "tools/call":
        route = catalogue.routes.get(target)
    elif method == "prompts/get":
        route = catalogue.prompt_routes.get(target)
    elif method == "resources/read":
        route = catalogue.resource_routes.get(target)
    else:
        route = None
    return route.target.name if route is not None else ""


def _org_fields(ctx: Any) -> tuple[int | None, str, str | None]:
    if ctx is None:
        return None, "", None
    api_key = getattr(ctx, "api_key", None)
    return ctx.org_id, ctx.org_slug, (str(api_key.pk) if api_key is not None else None)


def enabled() -> bool:
    return bool(getattr(settings, "MCP_OBSERVE_REQUESTS", True))


class ObserveMiddleware:
    """SDK server middleware: times each request and emits its ``RequestRecord``."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.request_id is None or not observe._subscribers or _request.get() is None:
            # A notification; nobody listening; or not a request that arrived at the gateway's
            # HTTP front (the playground drives the same server in-process: its runs are counted
            # as test runs, not as MCP traffic).
            return await call_next(ctx)
        started = time.perf_counter()
        outcome, error_type = observe.OK, ""
        try:
            result = await call_next(ctx)
            if ctx.method == "tools/call" and _is_error_result(result):
                outcome = observe.TOOL_ERROR
            return result
        except MCPError as exc:
            code = exc.error.code
            if code == _UNAUTHORIZED_SCOPE:
                outcome, error_type = observe.REFUSED, "scope"
            elif code == _DOWNSTREAM_TIMEOUT:
                outcome, error_type = observe.TIMEOUT, "timeout"
            else:
                outcome, error_type = observe.ERROR, str(code)
            raise
        except ValidationError:
            outcome, error_type = observe.ERROR, str(INVALID_PARAMS)
            raise
        except Exception as exc:
            outcome, error_type = observe.ERROR, type(exc).__name__
            raise
        except BaseException:  # cancelled: the client went away, or the process is stopping
            outcome, error_type = observe.ERROR, "cancelled"
            raise
        finally:
            _emit_for(ctx, outcome, error_type, started)


def _is_error_result(result: Any) -> bool:
    if isinstance(result, dict):
        return result.get("isError") is True
    return getattr(result, "is_error", False) is True


def _emit_for(ctx: Any, outcome: str, error_type: str, started: float) -> None:
    from omni.gateway.server import current_context

    org_ctx = current_context.get()
    org_id, org_slug, key_id = _org_fields(org_ctx)
    method = ctx.method if isinstance(ctx.method, str) else ""
    target = target_of(method, ctx.params)
    observe.emit(
        observe.RequestRecord(
            org_id=org_id,
            org_slug=org_slug,
            api_key_id=key_id,
            method=method[:100],
            target=target,
            server=server_of(org_id, method, target),
            outcome=outcome,
            error_type=error_type,
            duration=_elapsed(started),
            transport=_transport(),
        )
    )
    _mark_emitted()


def peek(body: bytes) -> tuple[str, str, bool]:
    """(method, target, is a request) of a single JSON-RPC message in ``body``; ("", "", True)
    when there is no readable message (an unread body, a GET)."""
    if not body:
        return "", "", True
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return "", "", True
    if not isinstance(message, dict):
        return "", "", True
    method = message.get("method")
    if not isinstance(method, str):
        return "", "", True
    return method[:100], target_of(method, message.get("params")), "id" in message


def refused(ctx: Any, error_type: str, body: bytes = b"", *, detail: str = "") -> None:
    """Record a request refused before JSON-RPC dispatch (rate limit, quota) of ``ctx``'s org."""
    if not observe._subscribers:
        return
    method, target, is_request = peek(body)
    if not is_request:
        return  # a notification is not a request, refused or not
    org_id, org_slug, key_id = _org_fields(ctx)
    observe.emit(
        observe.RequestRecord(
            org_id=org_id,
            org_slug=org_slug,
            api_key_id=key_id,
            method=method,
            target=target,
            server=server_of(org_id, method, target),
            outcome=observe.REFUSED,
            error_type=error_type,
            duration=_elapsed(time.perf_counter()),
            transport=_transport(),
            detail=detail,
        )
    )
    _mark_emitted()


class ResponseProbe:
    """An ASGI ``send`` wrapper that keeps the status and the start of the body of the answer."""

    __slots__ = ("send", "status", "head")

    def __init__(self, send: Any) -> None:
        self.send = send
        self.status = 0
        self.head = b""

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message.get("status", 0)
        elif message["type"] == "http.response.body" and len(self.head) < 4096:
            self.head += message.get("body", b"")[: 4096 - len(self.head)]
        await self.send(message)


def answered_before_dispatch(ctx: Any, body: bytes, probe: ResponseProbe) -> None:
    """After a POST was answered: a JSON-RPC request that no record covers was turned away by the
    transport before dispatch (no such session, a 2026-07-28 envelope or header mismatch, …) and
    is recorded as an error named by the answer's JSON-RPC error code (else ``http_<status>``)."""
    state = _request.get()
    if state is None or state["emitted"] or not observe._subscribers:
        return
    method, target, is_request = peek(body)
    if not method or not is_request:
        return
    error_type = f"http_{probe.status}"
    try:
        answer = json.loads(probe.head)
        code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
        if isinstance(code, int):
            error_type = str(code)
    except (ValueError, RecursionError, AttributeError):
        pass
    org_id, org_slug, key_id = _org_fields(ctx)
    observe.emit(
        observe.RequestRecord(
            org_id=org_id,
            org_slug=org_slug,
            api_key_id=key_id,
            method=method,
            target=target,
            server=server_of(org_id, method, target),
            outcome=observe.ERROR,
            error_type=error_type,
            duration=_elapsed(time.perf_counter()),
            transport=_transport(),
        )
    )
    _mark_emitted()


def install(server: Any) -> None:
    """Make ``ObserveMiddleware`` the outermost middleware of ``server`` (idempotent)."""
    if not any(isinstance(m, ObserveMiddleware) for m in server.middleware):
        server.middleware.insert(0, ObserveMiddleware())
