"""Real /mcp traffic from the official SDK client (and raw Streamable HTTP for the rate limit)
against a live server process shows up, after its flush and the rollup, in the usage dashboard
and its CSV with the right counts per tool, key and outcome; another organization sees none of
it; platform operators see both."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections import Counter

import pytest
from django.test import Client
from mcp.shared.exceptions import MCPError

from omni.monitoring.models import UsageMinute
from omni.monitoring.usage.rollup import rollup
from omni.tenants.services import create_api_key
from tests.factories import MembershipFactory, UserFactory
from tests.gateway import rawmcp
from tests.gateway.conftest import connect
from tests.gateway.world import make_tenant

pytestmark = pytest.mark.live

LIMIT = 12  # requests per key and minute in this test's organization


@pytest.fixture(scope="module")
def usage_server(live_server_factory):
    return live_server_factory.start(name="usage", env={"USAGE_FLUSH_SECONDS": "0.3"})


def _admin(org, role: str = "admin"):
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:10]}")
    MembershipFactory(user=user, organization=org, role=role)
    client = Client()
    client.force_login(user)
    return client


def _wait_rolled_up(org, calls: int) -> None:
    """Roll up until the organization's rows hold ``calls`` tools/call requests (the server flushes
    every 0.3 s)."""
    seen = -1
    for _ in range(60):
        rollup()
        rows = UsageMinute.objects.for_org(org).filter(method="tools/call")
        seen = sum(rows.values_list("calls", flat=True))
        if seen >= calls:
            return
        time.sleep(0.25)
    raise AssertionError(f"{seen} of {calls} requests reached the usage tables")


def _csv_counts(response) -> Counter:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    counts: Counter = Counter()
    for row in rows:
        counts[(row["api_key_id"], row["method"], row["target"], row["outcome"], row["error_type"])] += int(
            row["calls"]
        )
    return counts


async def _client_traffic(url: str, key: str) -> None:
    async with connect(url, key, mode="legacy") as c:
        for expression in ("1+1", "2*3", "7-2"):
            assert not (await c.call_tool("utilities__calculate", {"expression": expression})).is_error
        assert (await c.call_tool("knowledge__get_note", {"id": "no-such-note"})).is_error
        with pytest.raises(MCPError):
            await c.call_tool("utilities__no_such_tool", {})


def _rate_limited_traffic(url: str, key: str) -> tuple[int, int]:
    session, _ = rawmcp.initialize(url, key)
    ok = refused = 0
    for i in range(LIMIT + 2):
        call = {
            "jsonrpc": "2.0",
            "id": 10 + i,
            "method": "tools/call",
            "params": {"name": "utilities__calculate", "arguments": {"expression": f"{i}+1"}},
        }
        response = rawmcp.post(url, call, key=key, session=session, version="2025-06-18")
        if response.status_code == 429:
            refused += 1
        else:
            assert response.status_code == 200, response.text
            ok += 1
    return ok, refused


async def test_real_traffic_in_dashboard_and_csv(usage_server, committed):
    from asgiref.sync import sync_to_async

    def world():
        acme = make_tenant("acme")
        acme.org.settings = {**(acme.org.settings or {}), "rate_limits": {"mcp_per_key_per_minute": LIMIT}}
        acme.org.save()
        key_b, raw_b = create_api_key(acme.org, "second")
        globex = make_tenant("globex")
        return acme, key_b, raw_b, globex

    acme, key_b, raw_b, globex = await sync_to_async(world)()
    key_a = str(acme.api_key.pk)
    await _client_traffic(usage_server.mcp_url, acme.key)
    ok_b, refused_b = await sync_to_async(_rate_limited_traffic)(usage_server.mcp_url, raw_b)
    assert refused_b >= 1 and ok_b + refused_b == LIMIT + 2
    async with connect(usage_server.mcp_url, globex.key) as c:
        await c.call_tool("utilities__calculate", {"expression": "40+2"})

    def check() -> None:
        # 3 ok + 1 tool error + 1 error for key A, every call of key B
        _wait_rolled_up(acme.org, 5 + LIMIT + 2)
        _wait_rolled_up(globex.org, 1)
        rollup()  # twice: the same numbers

        admin = _admin(acme.org)
        counts = _csv_counts(admin.get(f"/o/{acme.org.slug}/usage/", {"range": "1h", "fmt": "csv"}))
        calc, note, unknown = "utilities__calculate", "knowledge__get_note", "utilities__no_such_tool"
        assert counts[(key_a, "tools/call", calc, "ok", "")] == 3
        assert counts[(key_a, "tools/call", note, "tool_error", "")] == 1
        assert counts[(key_a, "tools/call", unknown, "error", "-32602")] == 1
        assert counts[(key_a, "initialize", "", "ok", "")] == 1
        b = str(key_b.pk)
        assert counts[(b, "tools/call", calc, "ok", "")] == ok_b
        assert counts[(b, "tools/call", calc, "refused", "rate_limited:mcp_per_key_per_minute")] == refused_b
        assert counts[(b, "initialize", "", "ok", "")] == 1
        assert not any(key == str(globex.api_key.pk) for key, *_ in counts), "globex's traffic leaked"

        page = admin.get(f"/o/{acme.org.slug}/usage/", {"range": "24h"})
        assert page.status_code == 200
        html = page.content.decode()
        assert calc in html and "rate_limited:mcp_per_key_per_minute" in html and "second (" in html

        # Another organization's admin: 404 on acme's dashboard; their own shows only their call.
        other = _admin(globex.org)
        assert other.get(f"/o/{acme.org.slug}/usage/").status_code == 404
        theirs = _csv_counts(other.get(f"/o/{globex.org.slug}/usage/", {"range": "1h", "fmt": "csv"}))
        assert theirs[(str(globex.api_key.pk), "tools/call", calc, "ok", "")] == 1
        assert not any(key in (key_a, b) for key, *_ in theirs)
        # Members do not see usage (usage:read is for owners and admins).
        assert _admin(acme.org, "member").get(f"/o/{acme.org.slug}/usage/").status_code == 403

        # Platform operators: both organizations, with the organization in the CSV.
        root = Client()
        root.force_login(
            UserFactory(username=f"root-{uuid.uuid4().hex[:8]}", is_superuser=True, is_staff=True)
        )
        response = root.get("/ops/usage/", {"range": "1h", "fmt": "csv"})
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        orgs = {row["organization"] for row in rows}
        assert {acme.org.slug, globex.org.slug} <= orgs
        assert root.get("/ops/usage/", {"range": "7d"}).status_code == 200
        assert admin.get("/ops/usage/").status_code == 404

        # A bad custom range: 400 with the form's message, nothing else.
        bad = admin.get(
            f"/o/{acme.org.slug}/usage/",
            {"range": "custom", "since": "2026-01-02T00:00", "until": "2026-01-01T00:00"},
        )
        assert bad.status_code == 400 and "The end is not after the start." in bad.content.decode()

    await sync_to_async(check)()
