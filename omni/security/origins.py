"""Matching a browser's ``Origin`` against allowed origin patterns (``MCP_ALLOWED_ORIGINS``).

An origin is compared by its parts, never as text: scheme, host and port must all match. A pattern
is ``scheme://host[:port]`` where the host may use ``*`` for any run of host characters
(``*.example.com``) and the port is digits or ``*`` (any port); without a port it means the
scheme's default port. The pattern ``*`` alone matches every origin (the system checks warn).
An ``Origin`` that is not exactly ``scheme://host[:port]`` (user info, a path, ``null``) matches
nothing, so ``http://127.0.0.1:9999@evil.example`` is not ``http://127.0.0.1:*``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HOST = r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
_ORIGIN_RE = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?"
)
_PATTERN_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.*]+\]|[A-Za-z0-9*.-]+)(?::(?P<port>[0-9]{1,5}|\*))?"
)


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int | None  # None: the scheme has no default port and none was given


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` split into its parts, or None for anything else."""
    match = _ORIGIN_RE.fullmatch(value.strip())
    if match is None:
        return None
    scheme = match["scheme"].lower()
    port = int(match["port"]) if match["port"] else DEFAULT_PORTS.get(scheme)
    if port is not None and not 0 < port < 65536:
        return None
    return Origin(scheme, match["host"].lower(), port)


def _host_regex(pattern: str) -> re.Pattern[str]:
    """``*`` matches a run of host characters (never ``/``, ``@`` or ``]``); the rest literally."""
    return re.compile("[A-Za-z0-9.:-]*".join(re.escape(part) for part in pattern.split("*")))


def origin_matches(origin: str, pattern: str) -> bool:
    """Whether the ``Origin`` header value matches one allowed-origin pattern."""
    if pattern.strip() == "*":
        return True
    parsed = parse_origin(origin)
    wanted = _PATTERN_RE.fullmatch(pattern.strip())
    if parsed is None or wanted is None:
        return False
    scheme = wanted["scheme"].lower()
    if parsed.scheme != scheme:
        return False
    if not _host_regex(wanted["host"].lower()).fullmatch(parsed.host):
        return False
    port = wanted["port"]
    if port == "*":
        return True
    expected = int(port) if port else DEFAULT_PORTS.get(scheme)
    return parsed.port == expected


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """Whether ``origin`` matches any of ``patterns``."""
    return any(origin_matches(origin, pattern) for pattern in patterns)
