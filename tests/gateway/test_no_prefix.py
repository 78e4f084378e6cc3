"""ServerConnection.no_prefix: a server's tools and prompts under their own names, refused where
names could collide (docs/gateway.md, "Tools without a prefix")."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from omni.registry.forms import ServerForm
from omni.registry.models import Prompt, ServerConnection
from omni.tenants.context import OrgContext
from omni.tenants.services import create_organization
from tests.gateway import rawmcp
from tests.gateway.world import make_tenant
from tests.live import unique_slug

CATALOGUE_META = "io.omni/catalogue"
V = "2025-06-18"


def _server(
    org, name: str, *, no_prefix: bool = True, target: str = "utilities", **extra
) -> ServerConnection:
    return ServerConnection(
        organization=org, name=name, transport="inprocess", target=target, no_prefix=no_prefix, **extra
    )


@pytest.mark.django_db
def test_a_second_unprefixed_server_in_an_organization_is_refused():
    acme = create_organization(unique_slug("acme"), "Acme")
    globex = create_organization(unique_slug("globex"), "Globex")
    _server(acme, "first").save()
    second = _server(acme, "second", target="knowledge")
    with pytest.raises(ValidationError) as refused:
        second.full_clean()
    assert "'first' already exposes its names without a prefix" in str(
        refused.value.message_dict["no_prefix"]
    )
    # Other organizations, prefixed servers and disabled ones are not in the way.
    _server(globex, "second", target="knowledge").full_clean()
    _server(acme, "prefixed", no_prefix=False).full_clean()
    _server(acme, "idle", enabled=False).full_clean()
    # Editing the unprefixed server itself is fine.
    ServerConnection.objects.get(organization=acme, name="first").full_clean()


@pytest.mark.django_db
def test_a_global_unprefixed_server_blocks_an_organizations_own():
    acme = create_organization(unique_slug("acme"), "Acme")
    everywhere = _server(None, unique_slug("global")[:40])
    everywhere.save()
    try:
        with pytest.raises(ValidationError):
            _server(acme, "mine").full_clean()
    finally:
        everywhere.delete()


@pytest.mark.django_db
def test_the_server_form_shows_the_refusal():
    acme = create_organization(unique_slug("acme"), "Acme")
    _server(acme, "first").save()
    ctx = OrgContext(organization=acme, principal="test", role="owner")
    data = {"name": "second", "transport": "inprocess", "target": "knowledge", "enabled": "on"}
    data |= {"timeout_seconds": "10", "no_prefix": "on"}
    form = ServerForm(data=data, ctx=ctx)
    assert not form.is_valid()
    assert "already exposes its names without a prefix" in form.errors["no_prefix"][0]
    assert ServerForm(data={**data, "no_prefix": ""}, ctx=ctx).is_valid()


@pytest.mark.live
def test_unprefixed_tools_are_listed_and_called_under_their_own_names(live_server, committed):
    tenant = make_tenant("plain", servers=("knowledge",))
    _server(tenant.org, "utilities", timeout_seconds=10).save()
    url = live_server.mcp_url
    session, _ = rawmcp.initialize(url, tenant.key, V)
    rawmcp.wait_for_tool(url, tenant.key, session, "calculate", version=V)
    listed = rawmcp.rpc(url, tenant.key, session, "tools/list", version=V)
    names = {t["name"] for t in listed["result"]["tools"]}
    assert "calculate" in names and "utilities__calculate" not in names
    assert "knowledge__search_notes" in names
    called = rawmcp.rpc(
        url,
        tenant.key,
        session,
        "tools/call",
        {"name": "calculate", "arguments": {"expression": "6*7"}},
        version=V,
    )
    assert "42" in called["result"]["content"][0]["text"]


@pytest.mark.live
def test_a_collision_withholds_the_unprefixed_server_and_says_why(live_server, committed):
    """Rows written past the model's checks (or names known only once listed): the catalogue
    refuses the unprefixed server whose names are taken, never shadowing the owner."""
    tenant = make_tenant("clash", servers=("utilities",))
    # Its tool names as the tools of another unprefixed server (saved without full_clean).
    _server(tenant.org, "utilities_again", timeout_seconds=10).save()
    _server(tenant.org, "zz_utilities", timeout_seconds=10).save()
    url = live_server.mcp_url
    session, _ = rawmcp.initialize(url, tenant.key, V)
    rawmcp.wait_for_tool(url, tenant.key, session, "calculate", version=V)
    listed = rawmcp.rpc(url, tenant.key, session, "tools/list", version=V)["result"]
    names = [t["name"] for t in listed["tools"]]
    assert names.count("calculate") == 1  # one owner: the first unprefixed server by name
    reason = listed["_meta"][CATALOGUE_META]["unavailable"]["zz_utilities"]
    assert "no prefix" in reason and "'calculate'" in reason and "utilities_again" in reason


@pytest.mark.live
def test_an_unprefixed_prompt_may_not_shadow_a_database_prompt(live_server, committed):
    """slow_server.py offers the prompt ``haiku``; the organization keeps one of that name."""
    tenant = make_tenant("prompts", servers=())
    Prompt.objects.create(organization=tenant.org, name="haiku", messages=[{"role": "user", "content": "db"}])
    ServerConnection.objects.create(
        organization=tenant.org,
        name="slow",
        transport="stdio",
        command=sys.executable,
        args=[str(Path(__file__).with_name("slow_server.py"))],
        timeout_seconds=30,
        no_prefix=True,
    )
    session, _ = rawmcp.initialize(live_server.mcp_url, tenant.key, V)
    status: dict = {}
    listed: dict = {}
    for _ in range(60):  # bounded: the server's first listing may still be on its way
        listed = rawmcp.rpc(live_server.mcp_url, tenant.key, session, "tools/list", version=V)["result"]
        status = (listed.get("_meta") or {}).get(CATALOGUE_META) or {}
        if "slow" in status.get("unavailable", {}):
            break
        time.sleep(0.5)
    assert "prompt 'haiku' collides with the database's prompt" in status["unavailable"]["slow"]
    assert "echo" not in {t["name"] for t in listed["tools"]}
    prompts = rawmcp.rpc(live_server.mcp_url, tenant.key, session, "prompts/list", version=V)
    assert [p["name"] for p in prompts["result"]["prompts"]].count("haiku") == 1
    got = rawmcp.rpc(live_server.mcp_url, tenant.key, session, "prompts/get", {"name": "haiku"}, version=V)
    assert got["result"]["messages"][0]["content"]["text"] == "db"
