"""Who may read ``/metrics``: a bearer token (``METRICS_TOKEN``) or an address in
``METRICS_ALLOW_CIDRS`` (default: loopback only). Refusals are JSON: 401 for a missing or wrong
token when a token is configured, 403 for an address outside the allow-list otherwise."""

from __future__ import annotations

import functools
import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from omni.security.ratelimit import client_ip


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(tuple(settings.METRICS_ALLOW_CIDRS)))


def _bearer(request: HttpRequest) -> str | None:
    value = request.headers.get("Authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


def refusal(request: HttpRequest) -> JsonResponse | None:
    """None when the request may read the metrics, else the refusal to send."""
    token = settings.METRICS_TOKEN
    presented = _bearer(request)
    if token and presented is not None:
        if hmac.compare_digest(presented.encode(), token.encode()):
            return None
        return _unauthorized("the metrics token is wrong")
    if address_allowed(client_ip(request)):
        return None
    if token:
        return _unauthorized("send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'")
    return JsonResponse(
        {
            "error": "forbidden",
            "detail": "this address may not read /metrics (METRICS_ALLOW_CIDRS, or send METRICS_TOKEN)",
        },
        status=403,
    )


def _unauthorized(detail: str) -> JsonResponse:
    response = JsonResponse({"error": "unauthorized", "detail": detail}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response
