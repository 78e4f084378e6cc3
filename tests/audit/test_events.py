"""Every audited action is recorded with the right actor, organization, target, data, IP and request id."""

from __future__ import annotations

import logging
import uuid

import pytest
from asgiref.sync import sync_to_async

from omni.audit import sealing
from omni.audit.context import audit_context
from omni.audit.hooks import REDACTED, arecord_tool_call
from omni.audit.models import AuditEvent
from omni.audit.services import AuditTarget, arecord, record
from omni.registry.models import Prompt, ServerConnection
from omni.tenants.models import ApiKey, Role
from omni.tenants.services import (
    add_member,
    authenticate_api_key,
    create_api_key,
    create_organization,
    revoke_api_key,
)
from tests.audit.conftest import events, last_event
from tests.factories import TEST_PASSWORD, PromptFactory, UserFactory
from tests.live import unique_slug

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# --------------------------------------------------------------------------- logins
def test_login_logout_and_failed_login_through_the_login_page(world, client, run_on_commit):
    name = world.owner.username
    with run_on_commit():
        response = client.post("/login/", {"username": name, "password": TEST_PASSWORD})
    assert response.status_code == 302
    login = last_event(action="auth.login", actor_id=str(world.owner.pk))
    assert (login.actor_type, login.actor_name, login.organization_id) == ("user", name, None)
    assert (login.target_type, login.target_id) == ("auth.user", str(world.owner.pk))
    assert login.ip == "127.0.0.1" and len(login.request_id) == 32 and login.data == {"outcome": "ok"}

    with run_on_commit():
        assert client.post("/logout/").status_code in (200, 302)
    logout = last_event(action="auth.logout", actor_id=str(world.owner.pk))
    assert logout.seq > login.seq and logout.actor_name == name

    with run_on_commit():
        failed = client.post("/login/", {"username": name, "password": "wrong"}, HTTP_X_REQUEST_ID="req-42")
    assert failed.status_code == 200  # the form again, with an error
    failures = events(action="auth.login_failed", target_id=name)
    assert len(failures) == 1, "exactly one event per failed login"
    assert failures[0].ip == "127.0.0.1" and failures[0].request_id == "req-42"
    assert failures[0].organization_id is None
    assert TEST_PASSWORD not in str(failures[0].data) and "wrong" not in str(failures[0].data)


# --------------------------------------------------------------------------- keys and members
def test_api_key_create_and_revoke(world, run_on_commit):
    with run_on_commit():
        key, raw = create_api_key(world.acme, "ci", scopes=["tools:call"], created_by=world.owner)
    created = last_event(action="apikey.create", target_id=str(key.pk))
    assert (created.actor_type, created.actor_id, created.actor_name) == (
        "user",
        str(world.owner.pk),
        world.owner.username,
    )
    assert created.organization_id == world.acme.pk and created.org_slug == world.acme.slug
    assert created.target_type == "tenants.apikey" and key.prefix in created.target_repr
    assert created.data == {"name": "ci", "scopes": ["tools:call"], "expires_at": None}
    assert raw not in str(created.data) and key.key_hash not in str(created.data)

    with run_on_commit(), audit_context(actor=world.owner):
        revoke_api_key(key)
        revoke_api_key(key)  # idempotent: recorded once
    revoked = events(action="apikey.revoke", target_id=str(key.pk))
    assert len(revoked) == 1 and revoked[0].actor_name == world.owner.username


def test_key_revoked_in_the_ui_names_the_user_and_the_request(world, client, run_on_commit):
    key, _ = create_api_key(world.acme, "laptop")
    client.force_login(world.owner, backend=MODEL_BACKEND)
    with run_on_commit():
        response = client.post(f"/o/{world.acme.slug}/keys/{key.pk}/revoke/", HTTP_X_REQUEST_ID="ui-req-1")
    assert response.status_code in (200, 302)
    event = last_event(action="apikey.revoke", target_id=str(key.pk))
    assert (event.actor_type, event.actor_name) == ("user", world.owner.username)
    assert (event.ip, event.request_id, event.org_slug) == ("127.0.0.1", "ui-req-1", world.acme.slug)


def test_membership_add_role_change_and_remove(world, client, run_on_commit):
    newcomer = UserFactory(username=f"new-{uuid.uuid4().hex[:6]}")
    with run_on_commit(), audit_context(actor=world.owner):
        add_member(world.acme, newcomer, Role.VIEWER)
        add_member(world.acme, newcomer, Role.VIEWER)  # no change, no event
        add_member(world.acme, newcomer, Role.ADMIN)
    added = last_event(action="member.add", target_id=str(newcomer.pk))
    assert added.data == {"role": "viewer"} and added.actor_name == world.owner.username
    assert added.target_type == "auth.user" and added.target_repr == newcomer.username
    changes = events(action="member.role_change", target_id=str(newcomer.pk))
    assert [c.data for c in changes] == [{"before": "viewer", "after": "admin"}]

    client.force_login(world.owner, backend=MODEL_BACKEND)
    with run_on_commit():
        client.post(f"/o/{world.acme.slug}/members/{newcomer.username}/role/", {"role": "member"})
        client.post(f"/o/{world.acme.slug}/members/{newcomer.username}/remove/")
    change = last_event(action="member.role_change", target_id=str(newcomer.pk))
    assert change.data == {"before": "admin", "after": "member"} and change.ip == "127.0.0.1"
    removed = last_event(action="member.remove", target_id=str(newcomer.pk))
    assert removed.data == {"role": "member"} and removed.actor_name == world.owner.username
    assert removed.org_slug == world.acme.slug


def test_organization_create(db, run_on_commit):
    slug = unique_slug("neworg")
    with run_on_commit():
        org = create_organization(slug, "New Org")
    event = last_event(action="org.create", org_slug=slug)
    assert event.organization_id == org.pk and event.target_id == slug and event.actor_name == "system"


# --------------------------------------------------------------------------- registry
def test_registry_create_update_delete_with_before_and_after(world, run_on_commit):
    with run_on_commit(), audit_context(actor=world.owner):
        prompt = PromptFactory(organization=world.acme, name="greeting", description="v1")
        prompt.description = "v2"
        prompt.save()
        prompt.save()  # nothing changed: no event
        prompt.delete()
    created = last_event(action="registry.create", target_id=str(prompt.uuid))
    assert created.data["kind"] == "prompt" and created.data["after"]["description"] == "v1"
    assert created.data["after"]["organization"] == world.acme.slug and "id" not in created.data["after"]
    assert created.target_type == "registry.prompt" and created.actor_name == world.owner.username
    updates = events(action="registry.update", target_id=str(prompt.uuid))
    assert len(updates) == 1
    assert (
        updates[0].data["before"]["description"] == "v1" and updates[0].data["after"]["description"] == "v2"
    )
    assert updates[0].data["changed"] == ["description"]
    deleted = last_event(action="registry.delete", target_id=str(prompt.uuid))
    assert deleted.data["before"]["description"] == "v2" and deleted.org_slug == world.acme.slug


def test_server_credentials_never_reach_the_log(world, run_on_commit):
    secret = f"token-{uuid.uuid4().hex}"
    with run_on_commit():
        server = ServerConnection.objects.create(
            organization=world.acme,
            name="remote",
            transport="streamable_http",
            url="http://127.0.0.1:9/mcp",
            credential=secret,
        )
        server.credential = secret + "-rotated"
        server.save()
    created = last_event(action="registry.create", target_id=str(server.uuid))
    updated = last_event(action="registry.update", target_id=str(server.uuid))
    assert created.data["after"]["credential"] == REDACTED
    assert updated.data["secrets_changed"] == ["credential"] and updated.data["changed"] == ["credential"]
    for event in (created, updated):
        assert secret not in str(event.data)


def test_bulk_registry_update_and_delete_are_recorded_per_row(world, run_on_commit):
    with run_on_commit():
        a = PromptFactory(organization=world.acme, description="old")
        b = PromptFactory(organization=world.acme, description="old")
        Prompt.objects.owned_by(world.acme).filter(pk__in=[a.pk, b.pk]).update(description="new")
        Prompt.objects.owned_by(world.acme).filter(pk__in=[a.pk, b.pk]).delete()
    for item in (a, b):
        update = last_event(action="registry.update", target_id=str(item.uuid))
        assert (update.data["before"]["description"], update.data["after"]["description"]) == ("old", "new")
        assert (
            last_event(action="registry.delete", target_id=str(item.uuid)).data["before"]["name"] == item.name
        )


# --------------------------------------------------------------------------- denied accesses
def test_denied_accesses_in_the_ui(world, client, run_on_commit):
    outsider = UserFactory(username=f"outsider-{uuid.uuid4().hex[:6]}")
    client.force_login(world.viewer, backend=MODEL_BACKEND)
    with run_on_commit():
        assert client.get(f"/o/{world.acme.slug}/audit/").status_code == 403
    denied = last_event(action="access.denied", actor_id=str(world.viewer.pk))
    assert denied.org_slug == world.acme.slug and denied.data["path"] == f"/o/{world.acme.slug}/audit/"
    assert denied.data["method"] == "GET" and "audit:read" in denied.data["reason"]

    client.force_login(outsider, backend=MODEL_BACKEND)
    with run_on_commit():
        assert client.get(f"/o/{world.acme.slug}/").status_code == 404
        assert client.get("/o/no-such-org-at-all/").status_code == 404
    probe = last_event(action="access.denied", actor_id=str(outsider.pk))
    assert probe.org_slug == world.acme.slug and probe.data["reason"] == "not a member"
    assert events(action="access.denied", actor_id=str(outsider.pk)) == [probe]  # not for a missing org


# --------------------------------------------------------------------------- the MCP path (async)
@pytest.fixture
def org_with_key(committed):
    org = create_organization(unique_slug("mcp"), "MCP")
    key, raw = create_api_key(org, "agent")
    return org, key, raw


async def test_tool_calls_without_and_with_arguments(org_with_key):
    org, key, raw = org_with_key
    ctx = await sync_to_async(authenticate_api_key)(raw)
    await arecord_tool_call(
        ctx, tool="utilities__calculate", outcome="ok", duration_ms=12.3456, arguments={"expression": "1+1"}
    )
    event = await AuditEvent.objects.filter(action="mcp.tools_call", org_slug=org.slug).alatest("seq")
    assert (event.actor_type, event.actor_id) == ("api_key", str(key.pk))
    assert key.prefix in event.actor_name and event.request_id == ctx.request_id
    assert event.target_type == "mcp.tool" and event.target_id == "utilities__calculate"
    assert event.data == {"tool": "utilities__calculate", "outcome": "ok", "duration_ms": 12.346}

    org.settings = {"audit_tool_arguments": True}
    await sync_to_async(org.save)()
    ctx = await sync_to_async(authenticate_api_key)(raw)
    await arecord_tool_call(
        ctx,
        tool="utilities__calculate",
        outcome="error",
        duration_ms=3,
        arguments={"expression": "1/0"},
        error="division by zero",
    )
    event = await AuditEvent.objects.filter(action="mcp.tools_call", org_slug=org.slug).alatest("seq")
    # Stored encrypted with the organization's data key (omni.privacy), shown decrypted.
    assert event.data["arguments"].startswith("omnienc:1:") and "1/0" not in event.data["arguments"]
    assert sealing.open_value(event.data["arguments"]) == {"expression": "1/0"}
    assert event.data["outcome"] == "error"
    assert event.data["error"] == "division by zero"


async def test_rate_limit_hits_and_scope_dicts(org_with_key):
    org, key, raw = org_with_key
    ctx = await sync_to_async(authenticate_api_key)(raw)
    scope = {"type": "http", "client": ("10.1.2.3", 5555), "omni.request_id": "abc"}
    await arecord("ratelimit.hit", ctx=ctx, request=scope, data={"scope": "mcp_per_key", "limit": 600})
    event = await AuditEvent.objects.filter(action="ratelimit.hit", org_slug=org.slug).alatest("seq")
    assert event.ip == "10.1.2.3" and event.request_id == ctx.request_id
    assert event.data == {"scope": "mcp_per_key", "limit": 600}
    assert (await ApiKey.objects.aget(pk=key.pk)).organization_id == event.organization_id


async def test_arecord_never_raises(org_with_key, caplog):
    org, _, raw = org_with_key
    ctx = await sync_to_async(authenticate_api_key)(raw)
    with caplog.at_level(logging.ERROR, logger="omni.audit.services"):
        assert await arecord("Not A Verb!", ctx=ctx) is None
        assert await arecord("test.bad_target", ctx=ctx, target=object()) is None
    assert "Not A Verb!" in caplog.text and "test.bad_target" in caplog.text
    assert not await AuditEvent.objects.filter(org_slug=org.slug, action="test.bad_target").aexists()


def test_record_refuses_malformed_actions(db):
    for bad in ("login", "Auth.Login", "auth..login", "auth.login!", "x" * 70 + ".y"):
        with pytest.raises(ValueError, match="dotted"):
            record(bad)
    with pytest.raises(TypeError):
        record("test.target", target=3.5)
    assert record("test.fine", target=AuditTarget("test", "1")) is None
