"""The gateway's OpenTelemetry spans: the HTTP request, authentication, the forward downstream.

Off unless monitoring turns it on (``omni.monitoring.tracing`` calls ``enable`` when the ``OTEL_*``
variables ask for traces): while off, ``span`` returns one shared null context manager and the
gateway pays one attribute read per span site. The gateway only uses the OpenTelemetry API (a
dependency of the ``mcp`` SDK); the SDK, exporters and sampler are configured by monitoring.

Trace context reaches downstream servers twice, as the MCP specification's SEP-414 suggests: in
the request's ``params._meta`` (``traceparent``/``tracestate``, injected by the ``mcp`` SDK's
client) and, for HTTP servers, as the W3C ``traceparent``/``tracestate`` headers of the POST that
carries it (``trace_headers``, an httpx request hook that copies them from ``_meta``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

ENABLED = False
_tracer: Any = None
_NULL = contextlib.nullcontext()


def enable(tracer_provider: Any) -> None:
    global ENABLED, _tracer
    _tracer = tracer_provider.get_tracer("omni.gateway")
    ENABLED = True


def disable() -> None:
    global ENABLED, _tracer
    ENABLED = False
    _tracer = None


@contextlib.contextmanager
def _span(
    name: str, kind: str, attributes: dict[str, Any] | None, headers: dict[str, str] | None
) -> Iterator[Any]:
    from opentelemetry import propagate, trace

    context = propagate.extract(headers) if headers else None
    with _tracer.start_as_current_span(
        name, context=context, kind=getattr(trace.SpanKind, kind), attributes=attributes
    ) as span:
        yield span


def span(
    name: str,
    *,
    kind: str = "INTERNAL",
    attributes: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """A span as the current one while the block runs (``headers``: continue the caller's W3C
    trace context); a null context (yielding None) when tracing is off."""
    if not ENABLED:
        return _NULL
    return _span(name, kind, attributes, headers)


def scope_headers(scope: dict) -> dict[str, str]:
    """The W3C trace-context headers of an ASGI request."""
    found = {}
    for name, value in scope.get("headers", ()):
        if name in (b"traceparent", b"tracestate"):
            found[name.decode("latin-1")] = value.decode("latin-1")
    return found


async def trace_headers(request: Any) -> None:
    """httpx request hook: the ``traceparent``/``tracestate`` of the JSON-RPC message's ``_meta``
    as HTTP headers too (the pooled client's transport task does not run in the caller's context,
    so the message is the one place that knows the caller's span)."""
    if not ENABLED:
        return
    body = request.content
    if not body or b'"traceparent"' not in body:
        return
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return
    params = message.get("params") if isinstance(message, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return
    for key in ("traceparent", "tracestate"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            request.headers[key] = value
