"""Where a run may send load: this platform's gateway, or a server the organization itself uses
(in-process, HTTP through the egress policy and signed); never another organization's server, a
stdio command, or a URL the egress policy refuses (omni/loadtest/targets.py)."""

from __future__ import annotations

import pytest

from omni.loadtest.models import LoadShard
from omni.loadtest.services import RunRefused, create_run
from omni.registry.models import ServerConnection
from tests.factories import ServerConnectionFactory
from tests.loadtest import services_world
from tests.loadtest.services_world import TINY

world = services_world.world


def refused(*args, **kwargs) -> str:
    with pytest.raises(RunRefused) as info:
        create_run(*args, **kwargs)
    return str(info.value)


def endpoints(run, phase: str = "main") -> list[dict]:
    shard = LoadShard.objects.for_org(run.organization).filter(run=run, phase=phase).first()
    return shard.spec["endpoints"]


def test_the_gateway_target_is_this_platforms_endpoint_per_mode(world, settings):
    settings.LOADTEST_GATEWAY_URL = "http://omni.internal:8000"
    (mcp,) = endpoints(create_run(world.org, TINY, user=world.admin))
    assert mcp["url"] == "http://omni.internal:8000/mcp" and mcp["org"] == world.org.slug
    settings.LOADTEST_MAX_CONCURRENT_RUNS = 10
    (sse,) = endpoints(create_run(world.org, TINY + "mode: sse\n", user=world.admin))
    assert sse["url"] == "http://omni.internal:8000/sse"
    (local,) = endpoints(create_run(world.org, TINY, trigger="command", base_url="http://127.0.0.1:8123/"))
    assert local["url"] == "http://127.0.0.1:8123/mcp"


def test_an_inprocess_server_of_the_organization_is_measured_directly(world):
    run = create_run(world.org, TINY, user=world.admin, target="server:utilities")
    assert run.target == "server:utilities" and run.spec["target"] == "server:utilities"
    (endpoint,) = endpoints(run)
    assert endpoint["inprocess_server"] == "utilities" and endpoint["url"] == ""
    assert endpoint["meta"] == {"io.omni/org": world.org.slug} and endpoint["headers"] == {}
    # no API key is made when the gateway is not measured
    from omni.tenants.models import ApiKey

    assert not ApiKey.objects.for_org(world.org).filter(name=f"loadtest run {run.uuid}").exists()


def test_a_global_server_the_organization_uses_is_allowed_unless_overridden(world, settings):
    settings.LOADTEST_MAX_CONCURRENT_RUNS = 10
    ServerConnectionFactory(organization=None, name="shared", target="knowledge")
    (endpoint,) = endpoints(create_run(world.org, TINY, user=world.admin, target="server:shared"))
    assert endpoint["inprocess_server"] == "knowledge"
    ServerConnectionFactory(organization=world.org, name="shared", target="knowledge", enabled=False)
    assert "has no enabled MCP server called 'shared'" in refused(
        world.org, TINY, user=world.admin, target="server:shared"
    )


def test_another_organizations_server_is_refused(world):
    ServerConnectionFactory(organization=world.other, name="theirs", target="analytics")
    message = refused(world.org, TINY, user=world.admin, target="server:theirs")
    assert message == f"organization {world.org.slug} has no enabled MCP server called 'theirs'"
    # also as the direct server next to the gateway
    assert "no enabled MCP server called 'theirs'" in refused(
        world.org, TINY + "direct: theirs\n", user=world.admin
    )


def test_a_disabled_server_and_a_bad_target_are_refused(world):
    ServerConnectionFactory(organization=world.org, name="off", target="analytics", enabled=False)
    assert "no enabled MCP server called 'off'" in refused(
        world.org, TINY, user=world.admin, target="server:off"
    )
    assert "is not a target" in refused(world.org, TINY, user=world.admin, target="http://example.com/mcp")


def test_a_stdio_server_is_refused(world):
    ServerConnection.objects.create(
        organization=None, name="local-cmd", transport="stdio", command="/bin/true"
    )
    message = refused(world.org, TINY, user=world.operator, target="server:local-cmd")
    assert "runs as a local command (stdio)" in message


def test_an_http_server_outside_the_egress_policy_is_refused(world, settings):
    settings.MCP_EGRESS_ALLOW = []
    ServerConnectionFactory(
        organization=world.org,
        name="internal",
        transport="streamable_http",
        target="",
        url="http://127.0.0.1:9/mcp",
    )
    message = refused(world.org, TINY, user=world.admin, target="server:internal")
    assert "refused by the egress policy" in message and "loopback" in message
    assert "refused by the egress policy" in refused(world.org, TINY + "direct: internal\n", user=world.admin)


def test_an_http_server_inside_the_egress_policy_is_signed_with_its_credential(world, settings):
    settings.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
    ServerConnectionFactory(
        organization=world.org,
        name="remote",
        transport="streamable_http",
        target="",
        url="http://127.0.0.1:9/mcp",
        credential="server-token",
    )
    (endpoint,) = endpoints(create_run(world.org, TINY, user=world.admin, target="server:remote"))
    assert endpoint["url"] == "http://127.0.0.1:9/mcp" and endpoint["sign"] is True
    assert endpoint["headers"] == {"Authorization": "Bearer server-token"}
    assert endpoint["meta"] == {"io.omni/org": world.org.slug}


def test_a_server_target_drops_the_direct_phase(world):
    run = create_run(world.org, TINY + "direct: utilities\n", user=world.admin, target="server:utilities")
    assert run.spec["direct"] is None
    assert set(LoadShard.objects.for_org(world.org).filter(run=run).values_list("phase", flat=True)) == {
        "main"
    }
