"""Alert rules over the real sources (issue 8 parts 2, 3 and 5 together): real /mcp traffic from
the SDK client through a live server process feeds the usage counters that a metric rule reads, and
a real downstream server that the test stops goes down in /metrics and makes a server-down rule
fire; both incidents resolve when the condition clears."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.utils import timezone
from mcp.shared.exceptions import MCPError

from omni.gateway import breaker
from omni.monitoring.alerts.services import evaluate_rule
from omni.monitoring.models import UsageMinute
from omni.monitoring.models.alerts import Incident
from omni.monitoring.status import services as status
from omni.monitoring.usage.rollup import rollup
from omni.registry.models import ServerConnection
from tests.factories import MembershipFactory, UserFactory
from tests.gateway.conftest import connect
from tests.gateway.test_containment import serve
from tests.gateway.world import make_tenant
from tests.live import free_port
from tests.monitoring.alerts.conftest import email_channel, rule

pytestmark = pytest.mark.live


def _wait_counted(org, calls: int) -> None:
    seen = -1
    for _ in range(80):  # bounded: the server flushes every 0.3 s
        rollup()
        seen = sum(
            UsageMinute.objects.for_org(org).filter(method="tools/call").values_list("calls", flat=True)
        )
        if seen >= calls:
            return
        time.sleep(0.25)
    raise AssertionError(f"{seen} of {calls} calls reached the usage tables")


async def _traffic(url: str, key: str, ok: int, unknown: int) -> None:
    async with connect(url, key) as client:
        for n in range(ok):
            assert not (await client.call_tool("utilities__calculate", {"expression": f"{n}+1"})).is_error
        for _ in range(unknown):
            with pytest.raises(MCPError):
                await client.call_tool("utilities__no_such_tool", {})


def test_an_error_rate_rule_fires_on_real_traffic_and_resolves(
    live_server_factory, committed, eager, mailoutbox
):
    server = live_server_factory.start(name="alerts-usage", env={"USAGE_FLUSH_SECONDS": "0.3"})
    tenant = make_tenant("alertusage")
    channel = email_channel(tenant.org, "oncall@example.org")
    errors = rule(
        tenant.org,
        "error_rate",
        channels=[channel],
        threshold=25,  # percent
        comparison="gte",
        params={"window_minutes": 10},
    )
    import asyncio

    asyncio.run(_traffic(server.mcp_url, tenant.key, ok=3, unknown=2))  # 2 errors in 5 calls
    _wait_counted(tenant.org, 5)
    assert evaluate_rule(errors.pk, timezone.now()) == "opened"
    incident = Incident.objects.owned_by(tenant.org).get(rule=errors)
    # Every method counts (the handshake's requests too): 2 errors over all the requests counted.
    requests = sum(UsageMinute.objects.for_org(tenant.org).values_list("calls", flat=True))
    assert incident.evidence["calls"] == requests >= 5
    assert incident.evidence["value"] == pytest.approx(100 * 2 / requests, abs=0.01)
    assert any("oncall@example.org" in m.to for m in mailoutbox)
    # The dashboard the evidence links to shows that window.
    admin = UserFactory(username=f"oncall-{tenant.org.slug}")
    MembershipFactory(user=admin, organization=tenant.org, role="admin")
    browser = Client()
    browser.force_login(admin)
    assert browser.get(incident.evidence["link"]).status_code == 200
    # Good traffic brings the rate under the threshold: the incident resolves itself.
    asyncio.run(_traffic(server.mcp_url, tenant.key, ok=10, unknown=0))
    _wait_counted(tenant.org, 15)
    assert evaluate_rule(errors.pk, timezone.now()) == "resolved"
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED


def _downstream_up(server: str) -> float | None:
    """``omni_downstream_up`` of ``server`` as a Prometheus scrape of /metrics reads it."""
    from prometheus_client.parser import text_string_to_metric_families

    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name == "omni_downstream_up" and sample.labels.get("server") == server:
                return sample.value
    return None


def test_a_server_down_rule_fires_on_a_stopped_server_and_resolves(committed, settings):
    settings.STATUS_DEGRADED_LATENCY_SECONDS = 30  # a loaded machine is not "slow" here
    breaker.reset()
    tenant = make_tenant("alertdown", servers=())
    port = free_port()
    process = serve(port)
    name = f"flaky{tenant.org.pk}"  # unique in the shared database: /metrics labels by server name
    conn = ServerConnection.objects.create(
        organization=tenant.org,
        name=name,
        transport="streamable_http",
        url=f"http://127.0.0.1:{port}/mcp",
        timeout_seconds=5,
    )
    down = rule(tenant.org, "server_down", threshold=0, params={"server": name})  # down at all
    try:
        (first,) = status.probe_all(jitter=0, connection_ids=[conn.pk])
        assert first.state == "up"
        assert _downstream_up(name) == 1.0
        assert evaluate_rule(down.pk, timezone.now()) == "ok"
        process.kill()
        process.wait()
        (second,) = status.probe_all(jitter=0, connection_ids=[conn.pk])
        assert second.state == "down"
        assert _downstream_up(name) == 0.0
        assert evaluate_rule(down.pk, timezone.now()) == "opened"
        incident = Incident.objects.owned_by(tenant.org).get(rule=down)
        assert incident.evidence["down"][0]["server"] == name
        process = serve(port)
        (third,) = status.probe_all(jitter=0, connection_ids=[conn.pk])
        assert third.state == "up"
        assert _downstream_up(name) == 1.0
        assert evaluate_rule(down.pk, timezone.now()) == "resolved"
    finally:
        process.kill()
        breaker.reset()
