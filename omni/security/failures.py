"""What users and MCP clients are told when a downstream exchange fails: a category only.

Error panels that quote the exception or the response let an organization read internal pages and
tell open from closed ports through the gateway. So "Test connection", the server page and the MCP
error of a forwarded call say only which kind of failure it was; the details (exception, status,
address, response) go to the server log. An MCP server's own JSON-RPC errors are its answer and
are passed on unchanged; errors the SDK makes up from a non-MCP HTTP answer are not.

Another part of the gateway can name its own category by giving its exception a ``category``
attribute (a size limit says ``TOO_LARGE``).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import httpcore2
import httpx2

from omni.security.egress import EgressDenied

REFUSED = "connection refused or unreachable"
TIMED_OUT = "timed out"
TLS = "TLS error"
NOT_MCP = "not an MCP server (unexpected response)"
TOO_LARGE = "response too large"
BLOCKED = EgressDenied.category
INTERNAL = "internal error (see the server log)"

# Errors the SDK makes up from an HTTP answer that is not MCP (some quote the response body), and
# from a connection that ended under a request.
_SDK_NOT_MCP_EXACT = ("Not Found", "Server returned an error response")
_SDK_NOT_MCP_PREFIX = (
    "Unexpected content type: ",
    "Failed to parse JSON response: ",
    "Failed to parse SSE message: ",
)
_SDK_LOST_EXACT = ("Session terminated", "SSE stream ended without a response")
_SDK_LOST_PREFIX = ("SSE stream failed: ",)
LOST = "connection lost"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the members of exception groups and the causes/contexts, depth first."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(reversed(current.exceptions))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _sdk_category(message: str) -> str | None:
    if message in _SDK_NOT_MCP_EXACT or message.startswith(_SDK_NOT_MCP_PREFIX):
        return NOT_MCP
    if message in _SDK_LOST_EXACT or message.startswith(_SDK_LOST_PREFIX):
        return LOST
    return None


def is_sdk_synthesised(message: str) -> bool:
    """Whether an MCP error message is one the SDK made up (not the server's own answer)."""
    return _sdk_category(message) is not None


def failure_category(exc: BaseException) -> str:
    """What a user may be told about a failed downstream exchange (the details go to the log)."""
    causes = list(_chain(exc))
    for cause in causes:  # the most specific facts first
        if isinstance(cause, EgressDenied):
            return BLOCKED
    for cause in causes:
        category = getattr(cause, "category", None)
        if isinstance(category, str) and category:
            return category  # e.g. a size limit's error says "response too large"
    for cause in causes:
        if isinstance(cause, ssl.SSLError | ssl.CertificateError) or "[SSL" in str(cause):
            return TLS
    for cause in causes:
        if isinstance(cause, TimeoutError | httpx2.TimeoutException | httpcore2.TimeoutException):
            return TIMED_OUT
    for cause in causes:
        if isinstance(cause, httpx2.HTTPStatusError | httpx2.SSEError | httpx2.RemoteProtocolError):
            return NOT_MCP
        if isinstance(cause, httpx2.DecodingError | httpcore2.RemoteProtocolError | json.JSONDecodeError):
            return NOT_MCP
        if type(cause).__name__ == "ValidationError":  # pydantic: a body that is not JSON-RPC
            return NOT_MCP
        error = getattr(cause, "error", None)
        made_up = _sdk_category(str(getattr(error, "message", ""))) if error is not None else None
        if made_up is not None:
            return made_up
    for cause in causes:
        if isinstance(cause, httpx2.TransportError | httpcore2.NetworkError | ConnectionError | OSError):
            return REFUSED
    return INTERNAL
