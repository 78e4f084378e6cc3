"""The alerting pages: rules, channels and maintenance windows with form validation, the test
notification button, incidents with acknowledge; tenant isolation (another organization sees and
acts on nothing); roles; the operators' global pages; everything audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from omni.audit.models import AuditEvent
from omni.monitoring.models.alerts import (
    AlertRule,
    Delivery,
    Incident,
    MaintenanceWindow,
    NotificationChannel,
)
from omni.tenants.models import Role
from tests.factories import MembershipFactory, ServerConnectionFactory, UserFactory
from tests.monitoring.alerts.conftest import SECRET, rule, webhook_channel

pytestmark = pytest.mark.usefixtures("eager")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def base(world) -> str:
    return f"/o/{world.acme.slug}/alerts/"


def _actions(org) -> list[str]:
    return list(
        AuditEvent.objects.filter(organization=org, action__startswith="alert.")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_rule_create_validates_and_audits(world, django_capture_on_commit_callbacks):
    owner = client_for(world.owner)
    hook = webhook_channel(world.acme, "https://hooks.example.com/x")
    foreign = webhook_channel(world.globex, "https://hooks.example.com/y", name="theirs")
    ServerConnectionFactory(organization=world.acme, name="utils")
    data = {
        "name": "errors",
        "kind": "error_rate",
        "comparison": "gt",
        "threshold": "150",
        "for_seconds": "60",
        "severity": "warning",
        "enabled": "on",
        "window_minutes": "5",
        "server": "utils",
    }
    response = owner.post(base(world) + "rules/new/", data)
    assert response.status_code == 400 and "An error rate is a percentage" in response.content.decode()
    response = owner.post(base(world) + "rules/new/", {**data, "threshold": "5", "window_minutes": ""})
    assert response.status_code == 400 and "A metric rule needs a window" in response.content.decode()
    # Another organization's channel is not a choice.
    response = owner.post(base(world) + "rules/new/", {**data, "threshold": "5", "channels": [foreign.pk]})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not AlertRule.objects.owned_by(world.acme).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(base(world) + "rules/new/", {**data, "threshold": "5", "channels": [hook.pk]})
    assert response.status_code == 302
    created = AlertRule.objects.owned_by(world.acme).get()
    assert created.params == {"window_minutes": 5, "server": "utils"}
    assert list(created.channels.all()) == [hook]
    page = owner.get(base(world) + "rules/").content.decode()
    assert "errors" in page and "server utils" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(base(world) + f"rules/{created.uuid}/edit/", {**data, "threshold": "7"})
        assert response.status_code == 302
        # Disabling a firing rule resolves its incident (nothing else would).
        firing = Incident.objects.create(
            organization=world.acme,
            rule=created,
            rule_name=created.name,
            dedupe_key=created.dedupe_key,
            title="t",
        )
        edit = {k: v for k, v in data.items() if k != "enabled"}
        assert (
            owner.post(base(world) + f"rules/{created.uuid}/edit/", {**edit, "threshold": "7"}).status_code
            == 302
        )
        firing.refresh_from_db()
        assert firing.state == "resolved" and firing.resolution == "the rule was disabled"
        assert owner.post(base(world) + f"rules/{created.uuid}/delete/").status_code == 302
    assert not AlertRule.objects.filter(pk=created.pk).exists()
    assert _actions(world.acme) == [
        "alert.rule_create",
        "alert.rule_update",
        "alert.rule_update",
        "alert.incident_resolve",
        "alert.rule_delete",
    ]
    update = (
        AuditEvent.objects.filter(organization=world.acme, action="alert.rule_update").order_by("seq").first()
    )
    assert update.data["before"]["threshold"] == 5 and update.data["after"]["threshold"] == 7


def test_channel_secret_is_write_only_and_encrypted(world, settings, django_capture_on_commit_callbacks):
    owner = client_for(world.owner)
    data = {
        "name": "ops hook",
        "kind": "webhook",
        "url": "https://hooks.example.com/a",
        "enabled": "on",
        "new_secret": "very-secret-value",
    }
    assert owner.post(base(world) + "channels/new/", {**data, "url": ""}).status_code == 400
    response = owner.post(
        base(world) + "channels/new/", {**data, "kind": "email", "emails_text": "not-an-address"}
    )
    assert response.status_code == 400 and "is not an email address" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(base(world) + "channels/new/", data).status_code == 302
    channel = NotificationChannel.objects.owned_by(world.acme).get()
    assert channel.secret_value() == "very-secret-value"
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM monitoring_notificationchannel WHERE id = %s", [channel.pk])
        (stored,) = cursor.fetchone()
    assert "very-secret-value" not in stored  # encrypted at rest
    form = owner.get(base(world) + f"channels/{channel.uuid}/edit/").content.decode()
    assert "very-secret-value" not in form and "a signing secret is stored" in form
    # Saving without a new secret keeps the stored one.
    assert (
        owner.post(base(world) + f"channels/{channel.uuid}/edit/", {**data, "new_secret": ""}).status_code
        == 302
    )
    channel.refresh_from_db()
    assert channel.secret_value() == "very-secret-value"
    audit = AuditEvent.objects.filter(organization=world.acme, action="alert.channel_create").get()
    assert "very-secret-value" not in str(audit.data)

    # The egress policy refuses an internal webhook URL (form error, nothing saved).
    settings.MCP_EGRESS_ALLOW = []
    response = owner.post(
        base(world) + "channels/new/", {**data, "name": "internal", "url": "http://127.0.0.1:9/x"}
    )
    assert response.status_code == 400 and "egress policy" in response.content.decode()
    assert not NotificationChannel.objects.filter(name="internal").exists()


def test_send_test_notification_button(world, receiver, django_capture_on_commit_callbacks):
    owner = client_for(world.owner)
    channel = webhook_channel(world.acme, receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(base(world) + f"channels/{channel.uuid}/test/")
    assert response.status_code == 302
    (post,) = receiver.received
    assert post.signature_ok and post.json["event"] == "test"
    (delivery,) = Delivery.objects.owned_by(world.acme)
    assert (delivery.event, delivery.status, delivery.response_code, delivery.incident) == (
        "test",
        "sent",
        200,
        None,
    )
    page = owner.get(base(world) + "channels/").content.decode()
    assert "test #1: sent" in page and "Send test notification" in page
    assert "alert.channel_test" in _actions(world.acme) and "alert.delivery" in _actions(world.acme)


def test_slack_payload(world, receiver, django_capture_on_commit_callbacks):
    channel = NotificationChannel.objects.create(
        organization=world.acme, name="slack", kind="slack", url=receiver.url
    )
    with django_capture_on_commit_callbacks(execute=True):
        client_for(world.owner).post(base(world) + f"channels/{channel.uuid}/test/")
    (post,) = receiver.received
    assert post.json["text"].startswith("[Omni MCP] Test notification") and post.json["blocks"]
    assert post.signature_ok is None  # Slack's incoming webhooks are not signed


def _incident(world, org=None) -> Incident:
    org = org or world.acme
    r = rule(org, "pins_held", name=f"held {org.slug}")
    return Incident.objects.create(
        organization=org,
        rule=r,
        rule_name=r.name,
        dedupe_key=r.dedupe_key,
        title="2 tool definition changes held back",
        evidence={
            "value": 2,
            "held": [{"server": "utils", "tool": "search"}],
            "link": f"/o/{org.slug}/servers/",
        },
    )


def test_incident_pages_acknowledge_and_resolve(world, receiver, django_capture_on_commit_callbacks):
    incident = _incident(world)
    incident.rule.channels.set([webhook_channel(world.acme, receiver.url)])
    owner = client_for(world.owner)
    listing = owner.get(base(world)).content.decode()
    assert incident.title in listing and "badge-danger" in listing
    detail = owner.get(base(world) + f"incidents/{incident.uuid}/").content.decode()
    assert "utils/search" in detail and f"/o/{world.acme.slug}/servers/" in detail and "Acknowledge" in detail
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(base(world) + f"incidents/{incident.uuid}/ack/").status_code == 302
    incident.refresh_from_db()
    assert incident.state == "acknowledged" and incident.acknowledged_by == world.owner
    assert [r.json["event"] for r in receiver.received] == ["acknowledged"]
    # Acknowledging twice changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(base(world) + f"incidents/{incident.uuid}/ack/")
    assert len(receiver.received) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(base(world) + f"incidents/{incident.uuid}/resolve/").status_code == 302
    incident.refresh_from_db()
    assert incident.state == "resolved" and incident.resolved_by == world.owner
    detail = owner.get(base(world) + f"incidents/{incident.uuid}/").content.decode()
    assert "acknowledged" in detail and f"by {world.owner.username}" in detail and "HTTP 200" in detail
    assert owner.get(base(world) + "?state=resolved").content.decode().count(incident.title) == 1
    assert owner.get(base(world)).content.decode().count(incident.title) == 0  # not active any more
    assert {"alert.incident_ack", "alert.incident_resolve"} <= set(_actions(world.acme))


def test_another_organization_cannot_see_or_act(world):
    incident = _incident(world)
    hook = webhook_channel(world.acme, "https://hooks.example.com/z")
    acme_rule = incident.rule
    stranger = client_for(world.member)  # a member of globex only
    for url in ("", f"incidents/{incident.uuid}/", "rules/", "channels/", "maintenance/"):
        assert stranger.get(base(world) + url).status_code == 404
    assert stranger.post(base(world) + f"incidents/{incident.uuid}/ack/").status_code == 404
    # Through its own organization's pages, acme's objects do not exist (even for its owner).
    globex_owner = UserFactory(username=f"gowner-{world.globex.slug}")
    MembershipFactory(user=globex_owner, organization=world.globex, role=Role.OWNER)
    stranger = client_for(globex_owner)
    theirs = f"/o/{world.globex.slug}/alerts/"
    assert stranger.get(theirs + f"incidents/{incident.uuid}/").status_code == 404
    assert stranger.post(theirs + f"incidents/{incident.uuid}/ack/").status_code == 404
    assert stranger.post(theirs + f"rules/{acme_rule.uuid}/delete/").status_code == 404
    assert stranger.post(theirs + f"channels/{hook.uuid}/test/").status_code == 404
    assert incident.title not in stranger.get(theirs).content.decode()
    incident.refresh_from_db()
    assert incident.state == "open" and AlertRule.objects.filter(pk=acme_rule.pk).exists()
    assert not Delivery.objects.exists()
    # acme's viewer reads but cannot act.
    viewer = client_for(world.viewer)
    assert viewer.get(base(world) + f"incidents/{incident.uuid}/").status_code == 200
    assert "Acknowledge" not in viewer.get(base(world) + f"incidents/{incident.uuid}/").content.decode()
    assert viewer.post(base(world) + f"incidents/{incident.uuid}/ack/").status_code == 403
    assert viewer.get(base(world) + "rules/new/").status_code == 403
    # Organizations never see the operators' global incidents.
    glob = rule(None, "pins_held", name="platform")
    Incident.objects.create(
        organization=None, rule=glob, rule_name="platform", dedupe_key=glob.dedupe_key, title="GLOBAL-ONE"
    )
    assert "GLOBAL-ONE" not in client_for(world.owner).get(base(world) + "?state=all").content.decode()


def test_maintenance_window_form(world, django_capture_on_commit_callbacks):
    owner = client_for(world.owner)
    server = ServerConnectionFactory(organization=world.acme, name="utils")
    now = timezone.now().replace(second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M"
    data = {
        "connection": server.pk,
        "starts_at": now.strftime(fmt),
        "ends_at": (now - timedelta(hours=1)).strftime(fmt),
        "reason": "upgrade",
    }
    response = owner.post(base(world) + "maintenance/new/", data)
    assert response.status_code == 400 and "must end after it starts" in response.content.decode()
    response = owner.post(base(world) + "maintenance/new/", {**data, "connection": ""})
    assert response.status_code == 400 and "Choose the rule or the server" in response.content.decode()
    other = ServerConnectionFactory(organization=world.globex, name="theirs")
    response = owner.post(base(world) + "maintenance/new/", {**data, "connection": other.pk})
    assert response.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            base(world) + "maintenance/new/", {**data, "ends_at": (now + timedelta(hours=1)).strftime(fmt)}
        )
    assert response.status_code == 302
    window = MaintenanceWindow.objects.owned_by(world.acme).get()
    assert window.connection == server and window.created_by == world.owner
    assert "server utils" in owner.get(base(world) + "maintenance/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(base(world) + f"maintenance/{window.uuid}/delete/").status_code == 302
    assert _actions(world.acme) == ["alert.maintenance_create", "alert.maintenance_delete"]


def test_operators_global_pages(world, django_capture_on_commit_callbacks):
    operator = UserFactory(username=f"op-{world.acme.slug}", is_superuser=True, is_staff=True)
    ops = client_for(operator)
    assert client_for(world.owner).get("/ops/alerts/").status_code == 404
    acme_rule = rule(world.acme, "pins_held", name="acme-only")
    channel = webhook_channel(None, "http://127.0.0.1:9/platform", name="platform hook")
    data = {
        "name": "platform errors",
        "kind": "calls",
        "comparison": "gt",
        "threshold": "1000",
        "for_seconds": "0",
        "severity": "critical",
        "enabled": "on",
        "window_minutes": "5",
        "channels": [channel.pk],
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert ops.post("/ops/alerts/rules/new/", data).status_code == 302
    created = AlertRule.objects.global_only().get(name="platform errors")
    assert created.organization is None and list(created.channels.all()) == [channel]
    page = ops.get("/ops/alerts/rules/").content.decode()
    assert "platform errors" in page and "acme-only" not in page
    assert ops.get(f"/ops/alerts/rules/{acme_rule.uuid}/edit/").status_code == 404
    assert AuditEvent.objects.filter(action="alert.rule_create", target_id=str(created.uuid)).exists()
    assert SECRET not in ops.get("/ops/alerts/channels/").content.decode()
