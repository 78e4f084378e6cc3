"""Erasure and organization deletion end to end, against a live server: real MCP calls from the
person's own address, a pg_dump of the test database searched for them afterwards, dead keys,
sessions and tokens, and the organization's Redis keys gone."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.test import Client

from omni.audit.models import AuditEvent
from omni.gateway.sessions import END_MARKER_TTL
from omni.registry.models import ServerConnection
from omni.tenants.models import ApiKey, Role
from omni.tenants.services import add_member, create_api_key, create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import unique_slug
from tests.privacy.conftest import run_command, verify_chain
from tests.privacy.live_helpers import (
    call_tool,
    mcp_client,
    mcp_post,
    open_session,
    pg_dump_text,
    redis_keys_matching,
    wait_for,
)

WEB_IP = "203.0.113.88"  # the person's browser (the test client's REMOTE_ADDR)
MCP_IP = "127.0.0.88"  # the person's MCP client (a loopback address of its own)


def _org_with_utilities(name: str):
    org = create_organization(unique_slug(name), name.title())
    ServerConnection.objects.create(
        organization=org, name="utilities", transport="inprocess", target="utilities"
    )
    return org


def test_erase_user_leaves_nothing_of_the_person_and_kills_keys_sessions_and_tokens(live_server, committed):
    tag = uuid.uuid4().hex[:10]
    username, email = f"zelda-{tag}", f"zelda.{tag}@example.org"
    org = _org_with_utilities("dsr-live")
    boss = UserFactory(username=f"boss-{tag}")
    zelda = UserFactory(username=username, email=email)
    add_member(org, boss, Role.OWNER)
    add_member(org, zelda, Role.ADMIN)
    key, raw = create_api_key(org, f"zelda-key-{tag}", created_by=zelda)
    # She logs in from her browser, gets JWTs, and calls a tool over MCP from her own address.
    browser = Client(REMOTE_ADDR=WEB_IP)
    assert browser.post("/login/", {"username": username, "password": TEST_PASSWORD}).status_code == 302
    assert browser.get("/account/").status_code == 200
    tokens = Client(REMOTE_ADDR=WEB_IP).post(
        "/api/auth/token/", {"username": username, "password": TEST_PASSWORD}, content_type="application/json"
    )
    assert tokens.status_code == 200, tokens.content
    refresh = tokens.json()["refresh"]
    with mcp_client(MCP_IP) as http:
        session, version = open_session(http, live_server.mcp_url, raw)
        answer = call_tool(http, live_server.mcp_url, raw, session, version)
        assert answer["result"]["structuredContent"]["result"] == 42
    # The gateway's event goes through the spool: wait until it is in the table.
    assert wait_for(lambda: AuditEvent.objects.filter(actor_id=str(key.pk), action="mcp.tools_call").exists())
    dump = pg_dump_text()
    assert username in dump and email in dump and WEB_IP in dump and MCP_IP in dump  # the search works

    printed = run_command("erase_user", "--user", username, "--yes")
    assert f"Erased user #{zelda.pk}" in printed and "1 API key(s)" in printed

    dump = pg_dump_text()
    for trace in (username, email, WEB_IP, MCP_IP, key.prefix):
        assert trace not in dump, f"{trace!r} is still in the database"
    assert boss.username in dump  # the others are still there
    status, out = verify_chain()
    assert status == 0, out
    # Her key is dead (new call and the old session), her browser session and refresh token too.
    with mcp_client(MCP_IP) as http:
        init = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert mcp_post(http, live_server.mcp_url, raw, init).status_code == 401
        old = mcp_post(
            http,
            live_server.mcp_url,
            raw,
            init,
            **{"Mcp-Session-Id": session, "MCP-Protocol-Version": version},
        )
        assert old.status_code == 401
    assert browser.get("/account/").status_code == 302
    again = Client().post("/api/auth/token/refresh/", {"refresh": refresh}, content_type="application/json")
    assert again.status_code == 401
    assert not ApiKey.objects.filter(pk=key.pk).exists()


def test_delete_org_removes_its_rows_redis_keys_and_sessions(live_server, committed):
    org = _org_with_utilities("dsr-del")
    other = _org_with_utilities("dsr-keep")
    owner = UserFactory(username=f"del-owner-{uuid.uuid4().hex[:8]}")
    add_member(org, owner, Role.OWNER)
    add_member(other, owner, Role.OWNER)
    key, raw = create_api_key(org, "doomed", created_by=owner)
    other_key, other_raw = create_api_key(other, "kept", created_by=owner)
    with mcp_client("127.0.0.89") as http:
        session, version = open_session(http, live_server.mcp_url, raw)
        call_tool(http, live_server.mcp_url, raw, session, version)
        kept_session, kept_version = open_session(http, live_server.mcp_url, other_raw)
    patterns = [f"*:org:{org.pk}", f"*:org:{org.pk}:*", f"*{org.slug}*", f"*{key.pk}*", f"*{session}*"]
    before = redis_keys_matching(settings.REDIS_URL, patterns)
    assert any(session in name for name in before) and any(f":org:{org.pk}" in name for name in before), (
        before
    )

    printed = run_command("delete_org", "--org", org.slug, "--yes")
    assert f"Deleted {org.slug}" in printed and "1 MCP session(s) ended" in printed

    after = redis_keys_matching(settings.REDIS_URL, patterns)
    # What is left: only the end marker of the session's stream (so an open GET stream closes),
    # which expires on its own.
    assert all(f"{session}" in name and 0 < ttl <= END_MARKER_TTL for name, ttl in after.items()), after
    with mcp_client("127.0.0.89") as http:
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        assert mcp_post(http, live_server.mcp_url, raw, ping).status_code == 401
        # The other organization's session still works.
        assert call_tool(http, live_server.mcp_url, other_raw, kept_session, kept_version)["result"]
    assert ApiKey.objects.filter(pk=other_key.pk).exists() and not ApiKey.objects.filter(pk=key.pk).exists()
    assert not ServerConnection.objects.filter(organization_id=org.pk).exists()
    assert verify_chain()[0] == 0
