"""The audit viewer: who may see it, filters, pagination, before/after, CSV/JSON exports, global log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import pytest
from django.utils import timezone

from omni.audit.context import audit_context
from omni.audit.models import AuditEvent
from omni.audit.services import AuditTarget, record
from omni.tenants.models import Role
from omni.tenants.services import add_member
from tests.audit.conftest import last_event
from tests.factories import PromptFactory, UserFactory

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def log(world, run_on_commit):
    """acme: a few events of different actions, actors and outcomes; globex: one of its own."""
    with run_on_commit():
        record(
            "mcp.tools_call", organization=world.acme, actor="agent-one", data={"outcome": "ok", "tool": "t1"}
        )
        record(
            "mcp.tools_call",
            organization=world.acme,
            actor="agent-two",
            data={"outcome": "error", "tool": "t2"},
        )
        record("ratelimit.hit", organization=world.acme, actor="agent-one", data={"limit": 5})
        record(
            "apikey.create",
            organization=world.acme,
            actor="=HYPERLINK(evil)",
            target=AuditTarget("tenants.apikey", "k1", "@key"),
        )
        record("mcp.tools_call", organization=world.globex, actor="globex-agent", data={"outcome": "ok"})
        record("auth.login", actor="someone", data={"outcome": "ok"})  # global
    return world


def _login(client, user) -> None:
    client.force_login(user, backend=MODEL_BACKEND)


def _body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def test_permission_matrix(log, client):
    world = log
    admin = UserFactory(username=f"admin-{uuid.uuid4().hex[:6]}")
    member = UserFactory(username=f"m-{uuid.uuid4().hex[:6]}")
    add_member(world.acme, admin, Role.ADMIN)
    add_member(world.acme, member, Role.MEMBER)
    event = last_event(org_slug=world.acme.slug, action="ratelimit.hit")
    base = f"/o/{world.acme.slug}/audit/"
    urls = [base, f"{base}{event.public_id}/", f"{base}export.csv", f"{base}export.json"]
    expected = {world.owner: 200, admin: 200, member: 403, world.viewer: 403, world.member: 404}
    for user, status in expected.items():
        _login(client, user)
        for url in urls:
            assert client.get(url).status_code == status, (user.username, url)
    client.logout()
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_organization_sees_only_its_own_events(log, client):
    world = log
    _login(client, world.owner)
    page = client.get(f"/o/{world.acme.slug}/audit/").content.decode()
    assert "agent-one" in page and "agent-two" in page
    assert "globex-agent" not in page and "someone" not in page
    globex_event = last_event(org_slug=world.globex.slug)
    assert client.get(f"/o/{world.acme.slug}/audit/{globex_event.public_id}/").status_code == 404
    assert "globex-agent" not in _body(client.get(f"/o/{world.acme.slug}/audit/export.json"))


def test_filters(log, client):
    world = log
    _login(client, world.owner)
    base = f"/o/{world.acme.slug}/audit/"

    def actors(**params) -> set[str]:
        response = client.get(f"{base}export.json", params)
        assert response.status_code == 200
        return {row["actor_name"] for row in json.loads(_body(response))}

    assert actors(action="mcp.") == {"agent-one", "agent-two"}
    assert actors(action="mcp.tools_call", outcome="error") == {"agent-two"}
    assert actors(actor="one") == {"agent-one"}
    today = timezone.localdate()
    assert "agent-two" in actors(date_from=today.isoformat(), date_to=today.isoformat())
    assert actors(date_from=(today + dt.timedelta(days=1)).isoformat()) == set()
    assert actors(date_to=(today - dt.timedelta(days=1)).isoformat()) == set()

    page = client.get(base, {"action": "mcp.", "outcome": "ok"}).content.decode()
    assert "agent-one" in page and "agent-two" not in page
    # The page, its htmx fragment and the export links carry the filters.
    assert "export.csv?action=mcp.&amp;outcome=ok" in page
    fragment = client.get(base, {"actor": "two"}, HTTP_HX_REQUEST="true").content.decode()
    assert "agent-two" in fragment and "<html" not in fragment


def test_bad_filters_get_an_inline_error_and_list_nothing(log, client):
    world = log
    _login(client, world.owner)
    base = f"/o/{world.acme.slug}/audit/"
    response = client.get(base, {"date_from": "2026-05-02", "date_to": "2026-05-01"})
    page = response.content.decode()
    assert response.status_code == 400 and "The end date is before the start date." in page
    assert "agent-one" not in page
    response = client.get(base, {"action": "DROP TABLE;", "date_from": "yesterday"})
    assert response.status_code == 400 and "an action prefix" in response.content.decode()
    exported = client.get(f"{base}export.csv", {"outcome": "bogus"})
    assert exported.status_code == 400
    assert exported.json()["error"] == "invalid filters" and "outcome" in exported.json()["fields"]
    assert client.get(f"{base}export.xml").status_code == 404


def test_pagination(world, client, run_on_commit):
    with run_on_commit():
        for n in range(57):
            record("test.page", organization=world.acme, actor=f"bot-{n:02d}")
    _login(client, world.owner)
    base = f"/o/{world.acme.slug}/audit/"
    first = client.get(base, {"action": "test.page"}).content.decode()
    assert "bot-56" in first and "bot-06" not in first and "Page 1 of 2" in first
    assert "?action=test.page&amp;page=2" in first
    second = client.get(base, {"action": "test.page", "page": 2}).content.decode()
    assert "bot-06" in second and "bot-00" in second and "bot-56" not in second


def test_event_detail_shows_before_and_after(world, client, run_on_commit):
    with run_on_commit(), audit_context(actor=world.owner):
        prompt = PromptFactory(organization=world.acme, description="first words")
        prompt.description = "second words"
        prompt.save()
    event = last_event(action="registry.update", target_id=str(prompt.uuid))
    _login(client, world.owner)
    page = client.get(f"/o/{world.acme.slug}/audit/{event.public_id}/").content.decode()
    assert "first words" in page and "second words" in page and "changed" in page
    assert event.hash in page and event.prev_hash in page and world.owner.username in page


def test_csv_export_content(log, client):
    world = log
    _login(client, world.owner)
    response = client.get(f"/o/{world.acme.slug}/audit/export.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f"audit-{world.acme.slug}-" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    expected = AuditEvent.objects.for_org(world.acme).order_by("seq")
    assert [int(row["seq"]) for row in rows] == [e.seq for e in expected]
    by_actor = {row["actor_name"]: row for row in rows}
    assert by_actor["agent-two"]["outcome"] == "error" and by_actor["agent-two"]["action"] == "mcp.tools_call"
    assert json.loads(by_actor["agent-two"]["data"]) == {"outcome": "error", "tool": "t2"}
    assert "'=HYPERLINK(evil)" in by_actor and by_actor["'=HYPERLINK(evil)"]["target_repr"] == "'@key"
    last = expected.last()
    assert rows[-1]["hash"] == last.hash and rows[-1]["prev_hash"] == last.prev_hash


def test_json_export_content(log, client):
    world = log
    _login(client, world.owner)
    response = client.get(f"/o/{world.acme.slug}/audit/export.json", {"action": "mcp.tools_call"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    rows = json.loads(_body(response))
    assert [row["actor_name"] for row in rows] == ["agent-one", "agent-two"]
    event = AuditEvent.objects.get(public_id=rows[1]["id"])
    assert rows[1] == {
        "seq": event.seq,
        "id": str(event.public_id),
        "created_at": event.created_at.isoformat(),
        "organization": world.acme.slug,
        "actor_type": "system",
        "actor_id": "",
        "actor_name": "agent-two",
        "action": "mcp.tools_call",
        "outcome": "error",
        "target_type": "",
        "target_id": "",
        "target_repr": "",
        "request_id": "",
        "ip": "",
        "data": {"outcome": "error", "tool": "t2"},
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def test_global_log_is_for_superusers_only(log, client):
    world = log
    root = UserFactory(username=f"root-{uuid.uuid4().hex[:6]}", is_staff=True, is_superuser=True)
    global_event = last_event(action="auth.login", actor_name="someone")
    urls = ["/audit/", f"/audit/{global_event.public_id}/", "/audit/export.csv", "/audit/export.json"]
    _login(client, world.owner)
    for url in urls:
        assert client.get(url).status_code == 404
    _login(client, root)
    page = client.get("/audit/").content.decode()
    assert "someone" in page and "agent-one" not in page
    assert client.get(f"/audit/{global_event.public_id}/").status_code == 200
    acme_event = last_event(org_slug=world.acme.slug)
    assert client.get(f"/audit/{acme_event.public_id}/").status_code == 404
    rows = json.loads(_body(client.get("/audit/export.json", {"action": "auth.login"})))
    assert rows and all(row["organization"] is None for row in rows)


def test_tool_argument_setting(world, client, run_on_commit):
    base = f"/o/{world.acme.slug}/audit/"
    _login(client, world.viewer)
    assert client.post(f"{base}settings/", {"enabled": "on"}).status_code == 403
    _login(client, world.owner)
    with run_on_commit():
        response = client.post(f"{base}settings/", {"enabled": "on"})
    assert response.status_code == 302
    world.acme.refresh_from_db()
    assert world.acme.settings["audit_tool_arguments"] is True
    event = last_event(action="org.settings_change", org_slug=world.acme.slug)
    assert event.data == {"setting": "audit_tool_arguments", "before": False, "after": True}
    assert event.actor_name == world.owner.username
    assert "checked" in client.get(base).content.decode()
    with run_on_commit():
        client.post(f"{base}settings/", {})
    world.acme.refresh_from_db()
    assert world.acme.settings["audit_tool_arguments"] is False
