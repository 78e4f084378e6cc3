"""Input limits for what MCP clients send: JSON nesting depth, item counts, string sizes, URIs.

The gateway calls these before it forwards anything downstream (tool arguments, prompt arguments,
resource URIs), so a hostile client cannot make a server or a JSON Schema validator walk a
structure of unbounded depth or size. Every check returns ``None`` when the value is fine, or a
short, client-safe message saying what is wrong (the gateway turns it into an ``INVALID_PARAMS``
JSON-RPC error).

The walk is iterative: a value nested ten thousand levels deep costs no recursion.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_ITEMS = 10_000
DEFAULT_MAX_STRING_LENGTH = 1_000_000
DEFAULT_MAX_URI_LENGTH = 2048

# scheme ":" rest (RFC 3986), no whitespace or control characters anywhere.
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]*")


def check_json_limits(
    value: Any,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
    *,
    max_string_length: int | None = DEFAULT_MAX_STRING_LENGTH,
) -> str | None:
    """Why ``value`` (parsed JSON) is too deep or too big, or ``None`` when it is within limits.

    ``max_depth`` counts nested containers: ``{"a": [1]}`` has depth 2, a scalar depth 0.
    ``max_items`` counts every list element and object member, at any level. ``max_string_length``
    applies to strings and object keys (``None``: no limit). Values that JSON cannot hold
    (sets, bytes, objects) are refused too, so what passes can be serialized again.
    """
    if max_depth < 0 or max_items < 0:
        raise ValueError("max_depth and max_items must not be negative")
    items = 0
    # (value, depth of the container holding it)
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            depth += 1
            if depth > max_depth:
                return f"the value is nested more than {max_depth} levels deep"
            items += len(current)
            if items > max_items:
                return f"the value has more than {max_items} items"
            for key, member in current.items():
                if not isinstance(key, str):
                    return "object keys must be strings"
                if max_string_length is not None and len(key) > max_string_length:
                    return f"an object key is longer than {max_string_length} characters"
                stack.append((member, depth))
        elif isinstance(current, list | tuple):
            depth += 1
            if depth > max_depth:
                return f"the value is nested more than {max_depth} levels deep"
            items += len(current)
            if items > max_items:
                return f"the value has more than {max_items} items"
            stack.extend((member, depth) for member in current)
        elif isinstance(current, str):
            if max_string_length is not None and len(current) > max_string_length:
                return f"a string is longer than {max_string_length} characters"
        elif current is None or isinstance(current, bool | int | float):
            continue
        else:
            return f"a value of type {type(current).__name__} is not JSON"
    return None


def check_uri(value: Any, max_length: int = DEFAULT_MAX_URI_LENGTH) -> str | None:
    """Why ``value`` is not an acceptable resource URI, or ``None`` when it is.

    A URI must be a string of at most ``max_length`` characters with a scheme (``memo://a``,
    ``file:///x``, ``urn:x``) and no whitespace or control characters.
    """
    if not isinstance(value, str):
        return "the URI must be a string"
    if not value:
        return "the URI is empty"
    if len(value) > max_length:
        return f"the URI is longer than {max_length} characters"
    if not _URI_RE.fullmatch(value):
        return "the URI needs a scheme (like memo://…) and no spaces or control characters"
    return None
