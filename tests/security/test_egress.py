"""The egress policy for organizations' MCP servers (omni/security/egress.py): what is refused at save
time, the same refusal at connect time (a policy tightened or a DNS answer changed after the save:
the address actually connected to is checked), the operator allow-list, global servers exempt, and
failures shown as categories without fragments of the response.

Connections go only to listeners this module starts on 127.0.0.1; the suite allows loopback
(tests/conftest.py), so every test here sets the strict policy first.
"""

from __future__ import annotations

import ipaddress
import socket

import anyio
import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import connections

from omni.gateway import downstream
from omni.gateway.downstream import DownstreamError, Target
from omni.registry.models import ServerConnection
from omni.security import egress, failures
from omni.tenants.services import create_organization
from tests.live import free_port, unique_slug
from tests.security.egress_listener import SECRET, Listener

PUBLIC = "93.184.216.34"  # what a public name resolves to in the fake DNS answers below


@pytest.fixture
def strict(settings):
    settings.MCP_EGRESS_ALLOW = []
    return settings


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),  # reserved; Python files 240/4 under is_private first
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00::1", "private"),  # ULA
        ("fc12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped link-local"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("2002:7f00:1::", "6to4 loopback"),
        ("64:ff9b::a9fe:a9fe", "NAT64 link-local"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_problems(address, problem):
    assert egress.address_problem(ipaddress.ip_address(address)) == problem


REFUSED_URLS = [
    "http://127.0.0.1/mcp",
    "http://localhost:8080/mcp",  # a name that resolves to loopback
    "http://2130706433/mcp",  # decimal 127.0.0.1
    "http://0177.0.0.1/mcp",  # octal
    "http://0x7f.1/mcp",  # hex, short form
    "http://127.1/mcp",
    "http://[::1]/mcp",
    "http://[::ffff:127.0.0.1]/mcp",
    "http://[::ffff:7f00:1]/mcp",
    "http://[fd00::1]/mcp",
    "http://[fe80::1]/mcp",
    "http://10.0.0.5/mcp",
    "http://192.168.0.1:8443/mcp",
    "http://169.254.169.254/latest/meta-data/",
    "https://0.0.0.0/mcp",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_save_time_refusals(strict, url):
    with pytest.raises(egress.EgressDenied) as refused:
        egress.check_url(url)
    message = str(refused.value)
    # httpx2 (the gateway's client) does not even parse some spellings: refused as well.
    assert ("egress policy" in message and "MCP_EGRESS_ALLOW" in message) or "cannot be parsed" in message


def test_refusal_names_the_kind_not_the_resolved_address(strict):
    with pytest.raises(egress.EgressDenied) as refused:
        egress.check_url("http://localhost:1/mcp")
    assert "'localhost' resolves to a loopback address" in str(refused.value)
    assert "127.0.0.1" not in str(refused.value)


def test_allow_list_opens_networks_and_hosts(settings):
    settings.MCP_EGRESS_ALLOW = ["10.0.0.0/8", "::1", "localhost", "*.corp.example"]
    egress.check_url("http://10.20.30.40/mcp")
    egress.check_url("http://[::1]:9000/mcp")
    egress.check_url("http://localhost:9000/mcp")  # by name: whatever it resolves to
    egress.check_url("http://mcp.corp.example/mcp")  # by name (it does not even resolve here)
    egress.check_url("http://[::ffff:10.0.0.1]/mcp")  # the mapped form of an allowed address
    for url in ("http://127.0.0.1/mcp", "http://192.168.1.1/mcp", "http://169.254.169.254/"):
        with pytest.raises(egress.EgressDenied):
            egress.check_url(url)


def test_malformed_allow_list_entries_are_refused():
    egress.parse_allow_list(["10.0.0.0/8", "fd00::/8", "[::1]", "mcp.internal", "*.corp.example"])
    for bad in ("10.0.0.0/33", "not a host", "http://x.example", "a..b"):
        with pytest.raises(ValueError, match="neither a CIDR"):
            egress.parse_allow_list([bad])


def test_public_and_unresolvable_hosts_pass_at_save_time(strict):
    egress.check_url(f"https://{PUBLIC}/mcp")
    egress.check_url("https://mcp.example.com/mcp")  # no DNS answer here: checked at connect time


def test_model_clean_refuses_for_organizations_and_exempts_global_servers(strict, db):
    org = create_organization(unique_slug("egress"), "Egress")
    server = ServerConnection(organization=org, name="evil", transport="sse", url="http://127.0.0.1:1/sse")
    with pytest.raises(ValidationError) as refused:
        server.full_clean()
    assert "egress policy" in " ".join(refused.value.message_dict["url"])
    ServerConnection(name=unique_slug("g"), transport="sse", url="http://127.0.0.1:1/sse").full_clean()


# --------------------------------------------------------------------------- connect time
async def _in_thread(function):
    def run():
        try:
            return function()
        finally:
            db_connection.close()

    return await anyio.to_thread.run_sync(run)


def _target(url: str, transport: str = "streamable_http", org_id: int | None = 4242, timeout: float = 5):
    return Target(
        key=f"egress-{unique_slug()}",
        name="evil",
        transport=transport,
        url=url,
        timeout=timeout,
        org_id=org_id,
    )


async def _describe(target: Target) -> str:
    try:
        await downstream.describe(target)
    except DownstreamError as exc:
        return str(exc)
    finally:
        downstream.close_pool()
        await sync_to_async(connections.close_all)()  # the async ORM's thread (signing keys)
    raise AssertionError("the listener is not an MCP server: describe cannot succeed")


@pytest.mark.parametrize(("transport", "path"), [("streamable_http", "/mcp"), ("sse", "/sse")])
async def test_connect_time_check_after_the_policy_tightened(settings, committed, transport, path):
    """Saved while the operator allowed loopback; the allow-list is tightened before the gateway
    connects: no connection reaches the listener, the error is the category."""
    org = await _in_thread(lambda: create_organization(unique_slug("egress"), "Egress"))
    with Listener() as listener:
        settings.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
        server = ServerConnection(organization=org, name="evil", transport=transport, url=listener.url(path))
        await _in_thread(server.full_clean)  # allowed at save time
        settings.MCP_EGRESS_ALLOW = []
        message = await _describe(_target(server.url, transport, org_id=org.pk))
        assert message == "server 'evil': listing failed: blocked by the egress policy"
        assert listener.connections == 0
        # The same target connects once allowed: the listener is real, and refused only by policy.
        settings.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
        message = await _describe(_target(server.url, transport, org_id=org.pk))
        assert listener.connections >= 1
        assert "not an MCP server" in message and SECRET not in message and "secret" not in message


async def test_dns_rebinding_is_checked_on_the_address_connected_to(strict, committed, monkeypatch):
    """A name that resolved to a public address when saved resolves to 127.0.0.1 when the gateway
    connects (DNS is outside this machine: its answers are faked, nothing else is)."""
    answers = {"rebind.example": PUBLIC}
    real_sync, real_async = socket.getaddrinfo, anyio.getaddrinfo

    def fake_sync(host, *args, **kwargs):
        if host in answers:
            return real_sync(answers[host], *args, **kwargs)
        return real_sync(host, *args, **kwargs)

    async def fake_async(host, *args, **kwargs):
        if host in answers:
            return await real_async(answers[host], *args, **kwargs)
        return await real_async(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_sync)
    monkeypatch.setattr(anyio, "getaddrinfo", fake_async)
    with Listener() as listener:
        url = listener.url(host="rebind.example")
        egress.check_url(url)  # public at save time
        answers["rebind.example"] = "127.0.0.1"
        message = await _describe(_target(url))
        assert message.endswith("blocked by the egress policy") and listener.connections == 0
        # With loopback allowed the same name reaches the listener: the gateway connects to the
        # address it checked (the system resolver alone does not know rebind.example).
        strict.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
        message = await _describe(_target(url))
        assert listener.connections >= 1 and "not an MCP server" in message


async def test_global_servers_are_exempt_at_connect_time(strict, committed):
    with Listener() as listener:
        message = await _describe(_target(listener.url(), org_id=None))
        assert listener.connections >= 1 and "not an MCP server" in message


@pytest.mark.parametrize(
    ("mode", "scheme", "category"),
    [
        ("html", "http", "not an MCP server (unexpected response)"),
        ("error", "http", "not an MCP server (unexpected response)"),
        ("html", "https", "TLS error"),
        ("silent", "http", "timed out"),
    ],
)
async def test_failures_are_categories_without_response_details(settings, committed, mode, scheme, category):
    settings.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
    with Listener(mode) as listener:
        message = await _describe(_target(listener.url(scheme=scheme), timeout=2))
    assert category in message, message
    for detail in ("secret", "10.1.2.3", "SSL", "Error:", "text/html", "500", "<html"):
        assert detail not in message, (detail, message)


async def test_a_closed_port_is_refused_or_unreachable(settings, committed):
    settings.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
    message = await _describe(_target(f"http://127.0.0.1:{free_port()}/mcp"))
    assert message == "server 'evil': listing failed: connection refused or unreachable"


def test_failure_category_of_exception_groups_and_size_limits():
    class TooLarge(Exception):
        category = failures.TOO_LARGE

    group = BaseExceptionGroup("tasks", [ValueError("x"), TooLarge("32 MB from 10.1.2.3")])
    assert failures.failure_category(group) == "response too large"
    assert failures.failure_category(ExceptionGroup("g", [egress.EgressDenied("no")])) == failures.BLOCKED
    assert failures.failure_category(RuntimeError("boom")) == failures.INTERNAL
