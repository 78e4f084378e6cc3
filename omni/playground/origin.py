"""The playground websocket's ``Origin`` check: scheme, host *and port* must be this site's own.

Channels' ``AllowedHostsOriginValidator`` (in ``omni/asgi.py``) only compares the Origin's host
with ``ALLOWED_HOSTS``, so a page on ``http://127.0.0.1:9999`` (another program on the same
machine) could open the playground of a signed-in user on ``http://127.0.0.1:8000``. This
middleware, wrapped around the consumer in ``routing.py``, accepts a handshake only when:

* the ``Host`` header is one of ``ALLOWED_HOSTS`` (with ``DEBUG`` and none set: the localhost
  names Django allows), and
* the ``Origin`` is exactly this site's origin — ``https`` for ``wss`` (or when
  ``SECURE_PROXY_SSL_HEADER`` says the proxy got HTTPS), else ``http``; the Host's host and port,
  the scheme's default port when the Host names none — or one of ``CSRF_TRUSTED_ORIGINS``
  (the same list and rules as Django's CSRF check: scheme and port compared exactly, a
  ``https://*.example.com`` entry matches subdomains).

A missing, ``null`` or malformed Origin is refused. A refused handshake is closed before accept
(the browser sees a failed connection, status 403 under daphne).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]  # (scheme, host, port)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def parse_origin(value: str | None) -> Origin | None:
    """``(scheme, lower-case host, port)`` of an ``http(s)://host[:port]`` origin, or None."""
    if not value or value == "null":
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _is_secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, expected = proxy
        header = name.lower().removeprefix("http_").replace("_", "-").encode()
        value = _header(scope, header)
        return value is not None and value.split(",")[0].strip() == expected
    return False


def own_origin(scope: dict[str, Any]) -> Origin | None:
    """This site's origin as the handshake addresses it, or None when its Host is not allowed."""
    host = _header(scope, b"host") or ""
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    scheme = "https" if _is_secure(scope) else "http"
    if port and not port.isdigit():
        return None
    # IPv6: urlsplit drops the brackets of the Origin's host, so drop them here too.
    return scheme, domain.lower().strip("[]"), int(port) if port else DEFAULT_PORTS[scheme]


def _trusted(origin: Origin) -> bool:
    scheme, host, port = origin
    for entry in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        wildcard = "://*." in entry
        trusted = parse_origin(entry.replace("://*.", "://", 1) if wildcard else entry)
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and host.endswith("." + trusted[1])):
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether the handshake's ``Origin`` is this site's own (scheme, host, port) or trusted."""
    origin = parse_origin(_header(scope, b"origin"))
    if origin is None:
        return False
    own = own_origin(scope)
    if own is None:
        return False
    return origin == own or _trusted(origin)


class SameOriginMiddleware:
    """Deny a websocket handshake whose Origin is not this site's own (see the module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)
