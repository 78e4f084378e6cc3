"""What the gateway tells observers about every MCP request it answered: one ``RequestRecord`` each.

The gateway sits below monitoring (DESIGN.md: dependencies point one way), so it does not import
the usage counters or the Prometheus metrics; they ``subscribe`` here when their app is ready, and
the gateway ``emit``s a record when a JSON-RPC request (any method) has been answered, refused or
failed. Subscribers run on the request path, on the event loop: they must be cheap (in-memory
aggregation only, no I/O, no lock that waits) and they must not raise; ``emit`` logs and swallows
a subscriber's exception so that observing never breaks a request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Outcomes, as the usage tables and the metrics label them.
OK = "ok"  # a result (for tools/call: isError false)
TOOL_ERROR = "tool_error"  # tools/call answered with isError true
ERROR = "error"  # a JSON-RPC error answer (invalid params, not found, downstream failure…)
REFUSED = "refused"  # refused before any work: rate limit, quota, scope, access rule
TIMEOUT = "timeout"  # the forward or the request timed out
OUTCOMES = (OK, TOOL_ERROR, ERROR, REFUSED, TIMEOUT)


@dataclass(slots=True, frozen=True)
class RequestRecord:
    org_id: int | None
    org_slug: str
    # The API key's id as a string (ApiKey's primary key is a UUID); None for a request
    # authenticated otherwise (JWT, playground user).
    api_key_id: str | None
    method: str  # the JSON-RPC method: "tools/call", "tools/list", "initialize", "ping"…
    target: str = ""  # tool, prompt or resource as the client named it ("" when the method has none)
    server: str = ""  # the downstream server's name ("" for database prompts/resources, gateway-local)
    outcome: str = OK  # one of OUTCOMES
    error_type: str = ""  # "" or a short category: "rate_limited", "quota", "timeout", "-32602"…
    duration: float = 0.0  # seconds, from the request's arrival to its answer
    transport: str = ""  # "streamable", "single" (2026-07-28) or "sse"
    # for a refusal: the limit or quota reached ("mcp_per_key_per_minute", "sessions_per_key")
    detail: str = ""


Subscriber = Callable[[RequestRecord], None]
_subscribers: list[Subscriber] = []


def subscribe(fn: Subscriber) -> None:
    """Add ``fn`` (idempotent: subscribing the same function twice keeps one)."""
    if fn not in _subscribers:
        _subscribers.append(fn)


def unsubscribe(fn: Subscriber) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)


def emit(record: RequestRecord) -> None:
    """Hand ``record`` to every subscriber; a failing subscriber is logged, never raised."""
    for fn in _subscribers:
        try:
            fn(record)
        except Exception:
            logger.exception("request observer %r failed", fn)
