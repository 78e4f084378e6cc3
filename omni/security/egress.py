"""Egress policy: where the gateway may connect for MCP servers that organizations register.

An organization admin chooses the URL of a server connection, and the gateway connects to it from
inside our network. Without a policy that is server-side request forgery: loopback services, the
private network, the cloud metadata endpoint (169.254.169.254). So for every server connection that
belongs to an organization the host is resolved and each address is checked; refused are loopback,
private (RFC 1918, IPv6 ULA ``fc00::/7``), link-local, multicast, reserved, unspecified, IPv6
site-local and every other address that is not globally routable, also when spelled as an
IPv4-mapped (``::ffff:127.0.0.1``), 6to4, Teredo or NAT64 IPv6 address, or in decimal, octal or
hex (``2130706433``, ``0177.0.0.1``: the resolver turns them into the address that is checked).

The check runs twice: when the connection is saved (``check_url``: a form error) and whenever the
gateway opens a TCP connection for it (``http_client``: a network backend that resolves the host,
checks every address and connects to the checked address itself, so a DNS answer that changes
between the check and the connection — DNS rebinding — cannot get through).

``MCP_EGRESS_ALLOW`` (CIDRs and host names, ``*.example.com`` for subdomains) opens internal
targets deliberately. Global connections (no organization: registered by platform operators) are
exempt.

Failures of a downstream exchange are shown to users and MCP clients as a category only
(``omni/security/failures.py``); a refusal here is "blocked by the egress policy".
"""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import httpcore2
import httpx2
from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# How long a save-time resolution may take before the check gives up (the connect-time check
# still runs: a name that does not resolve now is not refused for that reason alone).
RESOLVE_TIMEOUT = 5.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_resolver_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="egress-dns")


class EgressDenied(Exception):
    """The egress policy refuses this target. ``str()`` is safe to show to the user who chose it."""

    category = "blocked by the egress policy"


class EgressTarget(Protocol):
    """What the policy needs of a server connection (``omni.gateway.downstream.Target``)."""

    name: str
    org_id: int | None


# --------------------------------------------------------------------------- the policy
def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` is refused (``"loopback"``, ``"private"``…), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded:
            kind, inner = embedded
            problem = address_problem(inner)
            return f"{kind} {problem}" if problem else None
    checks: tuple[tuple[str, bool], ...] = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address.teredo is not None:
        return "Teredo", address.teredo[1]
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AllowList:
    """``MCP_EGRESS_ALLOW`` parsed: networks, exact host names and ``*.suffix`` patterns."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    def allows_host(self, host: str) -> bool:
        host = _normal_host(host)
        return host in self.hosts or any(host.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(
            c in network for c in candidates for network in self.networks if c.version == network.version
        )


def parse_allow_list(entries: Iterable[str]) -> AllowList:
    """Parse allow-list entries; ``ValueError`` names a malformed one."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    suffixes: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = _normal_host(entry)
        label = name[2:] if name.startswith("*.") else name
        if (
            not label
            or any(not part or len(part) > 63 for part in label.split("."))
            or not all(ch.isalnum() or ch in "-." for ch in label)
        ):
            raise ValueError(f"{raw!r} is neither a CIDR, an IP address nor a host name")
        if name.startswith("*."):
            suffixes.append(name[1:])  # ".example.com"
        else:
            hosts.add(name)
    return AllowList(tuple(networks), frozenset(hosts), tuple(suffixes))


@functools.lru_cache(maxsize=8)
def _cached_allow_list(entries: tuple[str, ...]) -> AllowList:
    return parse_allow_list(entries)


def allow_list() -> AllowList:
    """The operator's allow-list (``settings.MCP_EGRESS_ALLOW``)."""
    return _cached_allow_list(tuple(getattr(settings, "MCP_EGRESS_ALLOW", ()) or ()))


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_exempt(org_id: int | None) -> bool:
    """Global connections (registered by platform operators) are not subject to the policy."""
    return org_id is None


def check_addresses(host: str, addresses: Iterable[IPAddress]) -> None:
    """Raise ``EgressDenied`` unless every address of ``host`` is allowed."""
    policy = allow_list()
    if policy.allows_host(host):
        return
    for address in addresses:
        if policy.allows_address(address):
            continue
        problem = address_problem(address)
        if problem is not None:
            raise EgressDenied(_refusal(host, address, problem))


def _refusal(host: str, address: IPAddress, problem: str) -> str:
    literal = _literal(host)
    what = f"{literal} is" if literal is not None else f"{_normal_host(host)!r} resolves to"
    return (
        f"{what} {_article(problem)} {problem} address: the egress policy does not let the gateway "
        "connect there (an operator can allow it with MCP_EGRESS_ALLOW)"
    )


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(_normal_host(host))
    except ValueError:
        return None


def _addresses(infos: Iterable[tuple[Any, ...]]) -> list[IPAddress]:
    seen: dict[IPAddress, None] = {}
    for info in infos:
        address = info[4][0].split("%", 1)[0]  # drop an IPv6 zone id
        seen.setdefault(ipaddress.ip_address(address))
    return list(seen)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (the system resolver, as a connection would use it)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    return _addresses(socket.getaddrinfo(_normal_host(host), port, type=socket.SOCK_STREAM))


async def aresolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    return _addresses(await anyio.getaddrinfo(_normal_host(host), port, type=socket.SOCK_STREAM))


def check_url(url: str) -> None:
    """The save-time check of an organization's server URL: ``EgressDenied`` when refused.

    A host that does not resolve now is not refused (nothing can be reached through it); the
    connect-time check decides when the gateway actually connects.
    """
    try:
        parsed = httpx2.URL(url)
    except Exception as exc:  # noqa: BLE001 - the URL validator reports malformed URLs
        raise EgressDenied(f"the URL cannot be parsed: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EgressDenied("only http:// and https:// URLs with a host are allowed")
    host, port = parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)
    if allow_list().allows_host(host):
        return
    future = _resolver_pool.submit(resolve, host, port)
    try:
        addresses = future.result(timeout=RESOLVE_TIMEOUT)
    except (OSError, UnicodeError, concurrent.futures.TimeoutError) as exc:
        logger.info("egress check: %r does not resolve now (%r); checked again at connect time", host, exc)
        return
    check_addresses(host, addresses)


# --------------------------------------------------------------------------- connect time
class _EgressBackend(httpcore2.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, and connects to a checked address."""

    def __init__(self, server: str) -> None:
        self._server = server
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await aresolve(host, port)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"resolving {host!r} timed out") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        try:
            check_addresses(host, addresses)
        except EgressDenied as exc:
            logger.warning("egress policy: server %s: refused %s:%s (%s)", self._server, host, port, exc)
            raise
        last: Exception | None = None
        for address in addresses:  # the checked addresses, never a second lookup
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore2.ConnectError as exc:
                last = exc
        raise last or httpcore2.ConnectError(f"{host!r} has no address")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise EgressDenied("unix sockets are not allowed for organization servers")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class _EgressTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with the policy's network backend (and no proxies from the environment:
    a proxy would connect on our behalf to whatever the URL names)."""

    def __init__(self, server: str) -> None:
        super().__init__(trust_env=False)
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore2.AsyncConnectionPool(  # httpx2's own defaults, our network backend
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_EgressBackend(server),
        )


def http_client(
    target: EgressTarget,
    *,
    headers: dict[str, str] | None = None,
    timeout: httpx2.Timeout | float | None = None,
    auth: httpx2.Auth | None = None,
) -> httpx2.AsyncClient:
    """The HTTP client for ``target``: every connection it opens passes the egress policy
    (unless the target is a global connection)."""
    kwargs: dict[str, Any] = {"headers": headers, "auth": auth}
    if timeout is not None:
        kwargs["timeout"] = timeout
    if is_exempt(target.org_id):
        return httpx2.AsyncClient(**kwargs)
    return httpx2.AsyncClient(transport=_EgressTransport(target.name), trust_env=False, **kwargs)


def client_factory(target: EgressTarget) -> Callable[..., httpx2.AsyncClient]:
    """``http_client`` in the shape of the SDK's ``httpx_client_factory`` (the SSE transport)."""

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return http_client(target, headers=headers, timeout=timeout, auth=auth)

    return factory
