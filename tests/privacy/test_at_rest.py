"""Encryption at rest, end to end against PostgreSQL and a live server.

Sentinel values go in through the web UI (an invitation, the addresses of alert notification
channels), the API (``/api/test/mcp`` and
``/api/test/scenarios``) and MCP calls with the official SDK client (a dataset upload, with the
organization recording tool-call arguments in the audit log). Then ``pg_dump`` of the test
database must not contain any of them, while the application reads every one back. Destroying
the organization's key afterwards leaves its rows unreadable, in the UI too.
"""

from __future__ import annotations

import base64
import subprocess
import uuid

import anyio
import httpx2
import pytest
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from mcp_servers.models import Dataset
from omni.audit import sealing
from omni.audit.models import AuditEvent
from omni.monitoring.models.alerts import NotificationChannel
from omni.playground.models import ScenarioRun, TestRun
from omni.privacy import inventory
from omni.privacy.crypto import keys
from omni.privacy.crypto.fields import blind_index
from omni.privacy.crypto.services import destroy_org_key
from omni.tenants.models import Invitation, Role
from omni.tenants.services import add_member
from tests.factories import UserFactory
from tests.gateway.conftest import connect
from tests.gateway.world import make_tenant

pytestmark = pytest.mark.live


def pg_dump() -> str:
    settings = connection.settings_dict
    command = ["pg_dump", "--data-only", "--no-owner", "-h", settings["HOST"] or "127.0.0.1"]
    command += ["-p", str(settings["PORT"] or 5432), "-U", settings["USER"] or "postgres", settings["NAME"]]
    env = {"PGPASSWORD": settings.get("PASSWORD") or "", "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120, env=env).stdout


async def _mcp_upload(url: str, key: str, name: str, csv_text: str) -> None:
    async with connect(url, key) as client:
        result = await client.call_tool("analytics__load_csv", {"name": name, "csv_text": csv_text})
        assert not result.is_error, result


def test_sentinels_from_ui_api_and_mcp_are_absent_from_a_database_dump(live_server, committed):
    tag = uuid.uuid4().hex[:12]
    s = {
        kind: f"sntl{kind}{tag}"
        for kind in (
            "invite",
            "apireq",
            "apiresp",
            "scenario",
            "dataset",
            "secret",
            "alertmail",
            "alerturl",
        )
    }
    tenant = make_tenant("crypt")
    org = tenant.org
    org.settings = {**org.settings, "audit_tool_arguments": True}
    org.save()
    owner = UserFactory(username=f"owner-{tag}")
    add_member(org, owner, Role.OWNER)
    token, _ = Token.objects.get_or_create(user=owner)

    # The web UI: an owner invites an address.
    ui = Client()
    ui.force_login(owner)
    email = f"{s['invite']}@example.org"
    response = ui.post(f"/o/{org.slug}/members/invite/", {"email": email, "role": "member"})
    assert response.status_code == 302, response.content[:500]
    # ... and creates alert notification channels: an email address, a Slack-style webhook URL.
    alert_mail = f"{s['alertmail']}@example.org"
    alert_url = f"https://hooks.example.com/services/{s['alerturl']}"
    for data in (
        {"name": "on-call mail", "kind": "email", "emails_text": alert_mail, "enabled": "on"},
        {"name": "on-call slack", "kind": "slack", "url": alert_url, "enabled": "on"},
    ):
        response = ui.post(f"/o/{org.slug}/alerts/channels/new/", data)
        assert response.status_code == 302, response.content[:500]

    # The API, on the live server: a tool call whose request and response carry sentinels, and a
    # bearer token that must be masked before anything is stored.
    api = httpx2.Client(base_url=live_server.url, headers={"Authorization": f"Token {token.key}"}, timeout=60)
    encoded = base64.b64encode(s["apiresp"].encode()).decode()
    body = {
        "organization": org.slug,
        "operations": [
            {
                "operation": "tools/call",
                "params": {
                    "name": "utilities__text_stats",
                    "arguments": {"text": f"{s['apireq']} Bearer {s['secret']}"},
                },
            },
            {
                "operation": "tools/call",
                "params": {
                    "name": "utilities__base64_codec",
                    "arguments": {"operation": "decode", "text": encoded},
                },
            },
        ],
    }
    response = api.post("/api/test/mcp", json=body)
    assert response.status_code == 200, response.text
    assert [r["outcome"] for r in response.json()["results"]] == ["ok", "ok"], response.text
    response = api.post(
        "/api/test/scenarios",
        json={
            "organization": org.slug,
            "scenario": "utilities_smoke",
            "variables": {"message": s["scenario"]},
        },
    )
    assert response.status_code == 200, response.text

    # MCP with the SDK client: a dataset upload (its arguments are recorded in the audit log).
    anyio.run(_mcp_upload, live_server.mcp_url, tenant.key, f"ds-{tag}", f"name,units\n{s['dataset']},3\n")

    dump = pg_dump()
    assert "omnienc:1:" in dump  # the encrypted values are there ...
    leaked = [kind for kind, value in s.items() if value in dump]
    assert not leaked, f"sentinels in the database dump: {leaked}"  # ... the plaintext is not

    # Every encrypted field the inventory lists holds ciphertext for this organization.
    assert set(inventory.encrypted_fields()) >= {
        ("playground.TestRun", "request"),
        ("playground.TestRun", "response"),
        ("playground.ScenarioRun", "variables"),
        ("playground.ScenarioRun", "report"),
        ("mcp_servers.Dataset", "rows"),
        ("tenants.Invitation", "email"),
        ("monitoring.NotificationChannel", "emails"),
        ("monitoring.NotificationChannel", "url"),
    }

    # ... and the application reads every sentinel back.
    keys.forget_all()
    invitation = Invitation.objects.get(organization=org, email_hash=blind_index(org.pk, email))
    assert invitation.email == email
    channels = {c.kind: c for c in NotificationChannel.objects.owned_by(org)}
    assert channels["email"].emails == [alert_mail] and channels["slack"].url == alert_url
    page = ui.get(f"/o/{org.slug}/alerts/channels/")
    assert alert_mail in page.content.decode() and alert_url in page.content.decode()
    runs = list(TestRun.objects.filter(organization=org, source="api").order_by("id"))
    assert s["apireq"] in runs[0].request["params"]["arguments"]["text"]
    assert s["secret"] not in str(runs[0].request) and "[redacted:token]" in str(runs[0].request)
    assert s["apiresp"] in str(runs[1].response)
    scenario = ScenarioRun.objects.get(organization=org)
    assert scenario.variables["message"] == s["scenario"] and scenario.status == "passed"
    assert s["scenario"] in str(scenario.report)
    assert Dataset.objects.get(org_slug=org.slug, name=f"ds-{tag}").rows == [[s["dataset"], 3]]
    event = AuditEvent.objects.filter(organization=org, action="mcp.tools_call").latest("seq")
    assert event.data["arguments"].startswith("omnienc:1:")
    assert sealing.open_value(event.data["arguments"])["csv_text"].startswith(f"name,units\n{s['dataset']}")

    # Crypto-shredding: the organization's rows become unreadable, loudly, in the UI too.
    destroy_org_key(org)
    keys.forget_all()
    run = TestRun.objects.get(pk=runs[0].pk)
    page = ui.get(f"/o/{org.slug}/history/{run.public_id}/")
    assert page.status_code == 410 and b"[erased]" in page.content and b"destroyed" in page.content
    history = ui.get(f"/o/{org.slug}/history/")
    assert history.status_code in (200, 410) and s["apireq"].encode() not in history.content
    assert sealing.open_value(event.data["arguments"]) == "[erased]"
    # The live server, which has the key cached at most PRIVACY_KEY_CACHE_SECONDS, is not asked here.
    api.close()
