"""Alert evaluation end to end in one process: a rule fires, its incident notifies a webhook
receiver on 127.0.0.1 (signature verified) and an email lands in the locmem outbox, then the
incident resolves when the condition clears; dedupe; the "for" duration; maintenance windows;
retries with exponential backoff (bounded); each condition kind."""

from __future__ import annotations

import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from mcp.types import Tool

from omni.audit.models import AuditEvent
from omni.audit.services import AuditTarget, record
from omni.monitoring.alerts import conditions, services
from omni.monitoring.alerts.services import evaluate_all, evaluate_rule
from omni.monitoring.models.alerts import Delivery, Incident, MaintenanceWindow
from omni.registry.pins import ToolPin, check_tools
from tests.factories import OrganizationFactory, ServerConnectionFactory
from tests.monitoring.alerts.conftest import email_channel, rule, webhook_channel

pytestmark = pytest.mark.usefixtures("eager")


def _held_back_tool(org, name: str = "utils") -> ToolPin:
    """A real held-back definition change: pinned on first sight, then changed by the server."""
    server = ServerConnectionFactory(organization=org, name=name)
    check_tools(server.pk, [Tool(name="search", description="v1", input_schema={"type": "object"})])
    offered, held = check_tools(
        server.pk, [Tool(name="search", description="v2!", input_schema={"type": "object"})]
    )
    assert held == ["search"] and offered == []
    return ToolPin.objects.get(connection=server, tool_name="search")


def _stats(calls=0, errors=0, refused=0, p95=None):
    return SimpleNamespace(calls=calls, errors=errors, refused=refused, p50=None, p95=p95, p99=None)


def test_rule_fires_notifies_webhook_and_email_then_resolves(
    world, receiver, mailoutbox, django_capture_on_commit_callbacks
):
    pin = _held_back_tool(world.acme)
    hook = webhook_channel(world.acme, receiver.url)
    mail = email_channel(world.acme, "oncall@example.com")
    held = rule(world.acme, "pins_held", channels=[hook, mail], severity="critical")

    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_rule(held.pk, timezone.now()) == "opened"
    incident = Incident.objects.owned_by(world.acme).get()
    assert incident.state == "open" and incident.severity == "critical"
    assert incident.evidence["held"] == [
        {"server": "utils", "tool": "search", "changed_at": pin.changed_at.isoformat()}
    ]
    assert incident.evidence["link"] == f"/o/{world.acme.slug}/servers/"

    # The webhook: one POST, signed with the channel's secret, the incident in the JSON body.
    (post,) = receiver.received
    assert post.signature_ok is True
    assert post.headers["X-Omni-Event"] == "opened"
    assert post.json["incident"]["id"] == str(incident.uuid)
    assert post.json["organization"] == world.acme.slug
    assert post.json["incident"]["evidence"]["count"] == 1
    # The email, in the locmem outbox.
    (message,) = mailoutbox
    assert message.to == ["oncall@example.com"] and "opened" in message.subject
    assert f"/o/{world.acme.slug}/alerts/incidents/{incident.uuid}/" in message.body
    assert f"Evidence: {settings.OMNI_PUBLIC_URL}/o/{world.acme.slug}/servers/" in message.body

    # Still firing: the same incident, no new notification.
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_rule(held.pk, timezone.now()) == "firing"
    assert Incident.objects.owned_by(world.acme).count() == 1 and len(receiver.received) == 1

    # The admin approves the change: the condition clears, the incident resolves by itself.
    pin.approve()
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_rule(held.pk, timezone.now()) == "resolved"
    incident.refresh_from_db()
    assert incident.state == "resolved" and incident.resolution == "the condition cleared"
    assert incident.resolved_by is None and incident.resolved_at is not None
    assert [r.json["event"] for r in receiver.received] == ["opened", "resolved"]
    assert all(r.signature_ok for r in receiver.received)
    assert len(mailoutbox) == 2 and "resolved" in mailoutbox[1].subject
    deliveries = Delivery.objects.owned_by(world.acme).filter(incident=incident)
    assert sorted(deliveries.values_list("event", "status")) == [
        ("opened", "sent"),
        ("opened", "sent"),
        ("resolved", "sent"),
        ("resolved", "sent"),
    ]
    # Every transition and delivery is audited.
    actions = list(
        AuditEvent.objects.filter(organization=world.acme, action__startswith="alert.").values_list(
            "action", flat=True
        )
    )
    assert actions.count("alert.incident_open") == 1 and actions.count("alert.incident_resolve") == 1
    assert actions.count("alert.delivery") == 4


def test_a_tampered_signature_does_not_verify(receiver):
    from omni.monitoring.alerts.transports import sign, verify

    body = b'{"event":"test"}'
    header = sign("k", 1_767_312_000, body)
    assert verify("k", header, body, now=1_767_312_000)
    assert not verify("k", header, body + b" ", now=1_767_312_000)
    assert not verify("other", header, body, now=1_767_312_000)
    assert not verify("k", header, body, now=1_767_312_000 + 3600)  # too old: a replay


def test_one_open_incident_per_firing_rule(world, django_capture_on_commit_callbacks):
    _held_back_tool(world.acme)
    held = rule(world.acme, "pins_held")
    for _ in range(3):
        evaluate_all()
    assert Incident.objects.owned_by(world.acme).filter(state__in=Incident.ACTIVE).count() == 1
    # The database refuses a second active incident with the same dedupe key.
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(
            organization=world.acme, rule=held, rule_name="x", dedupe_key=held.dedupe_key, title="dup"
        )
    # Once resolved, a new firing opens a new incident.
    Incident.objects.filter(dedupe_key=held.dedupe_key).update(state="resolved")
    assert evaluate_rule(held.pk, timezone.now()) == "opened"
    assert Incident.objects.owned_by(world.acme).count() == 2


def test_two_evaluators_at_once_open_one_incident(committed):
    org = OrganizationFactory()
    _held_back_tool(org)
    held = rule(org, "pins_held")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(10)
            outcomes.append(evaluate_rule(held.pk, timezone.now()))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert Incident.objects.filter(dedupe_key=held.dedupe_key).count() == 1
    assert outcomes.count("opened") == 1, outcomes  # the others skipped the locked row or saw it open


def test_for_duration_against_flapping(world, monkeypatch):
    state = {"stats": _stats(calls=100, errors=30)}
    monkeypatch.setattr(conditions, "usage_window_stats", lambda *a, **k: state["stats"])
    flaky = rule(
        world.acme, "error_rate", threshold=10, comparison="gt", for_seconds=120, params={"window_minutes": 5}
    )
    t0 = timezone.now()
    assert evaluate_rule(flaky.pk, t0) == "pending"
    assert evaluate_rule(flaky.pk, t0 + timedelta(seconds=60)) == "pending"
    state["stats"] = _stats(calls=100, errors=1)  # clears before the "for" duration: the clock stops
    assert evaluate_rule(flaky.pk, t0 + timedelta(seconds=90)) == "ok"
    state["stats"] = _stats(calls=100, errors=30)
    assert evaluate_rule(flaky.pk, t0 + timedelta(seconds=150)) == "pending"  # starts again
    assert not Incident.objects.owned_by(world.acme).exists()
    assert evaluate_rule(flaky.pk, t0 + timedelta(seconds=270)) == "opened"
    assert Incident.objects.owned_by(world.acme).get().evidence["value"] == 30.0


def test_metric_rule_reads_window_stats_with_its_scope(world, monkeypatch):
    # The rule's scope reaches window_stats as asked (the real counters: test_real_sources.py).
    calls = []

    def fake(org_id, since, until, **scope):
        calls.append((org_id, until - since, scope))
        return _stats(calls=50, errors=2, p95=0.750)

    monkeypatch.setattr(conditions, "usage_window_stats", fake)
    slow = rule(
        world.acme,
        "p95_latency",
        threshold=500,
        comparison="gte",
        params={"window_minutes": 15, "server": "utils", "tool": "utils__calculate"},
    )
    assert evaluate_rule(slow.pk, timezone.now()) == "opened"
    assert calls == [
        (world.acme.pk, timedelta(minutes=15), {"server": "utils", "target": "utils__calculate"})
    ]
    incident = Incident.objects.owned_by(world.acme).get()
    assert incident.evidence["value"] == 750.0 and incident.evidence["calls"] == 50
    assert incident.evidence["link"].startswith(f"/o/{world.acme.slug}/usage/?range=custom&since=")
    # No traffic is no data: an error rate over zero calls does not fire.
    monkeypatch.setattr(conditions, "usage_window_stats", lambda *a, **k: _stats())
    quiet = rule(world.acme, "error_rate", name="quiet", threshold=0, params={"window_minutes": 5})
    assert evaluate_rule(quiet.pk, timezone.now()) == "ok"
    # A global rule asks for every organization (org_id None).
    calls.clear()
    monkeypatch.setattr(conditions, "usage_window_stats", fake)
    everyone = rule(None, "calls", name="global", threshold=10, params={"window_minutes": 5})
    assert evaluate_rule(everyone.pk, timezone.now()) == "opened"
    assert calls[0][0] is None
    assert Incident.objects.global_only().filter(rule=everyone).exists()


def test_metric_rule_without_the_usage_app_is_no_data(world):
    # Until musage's module is merged the import fails and the rule reports "no data", never fires.
    busy = rule(world.acme, "calls", threshold=-1, comparison="gt", params={"window_minutes": 5})
    outcome = evaluate_rule(busy.pk, timezone.now())
    try:
        import omni.monitoring.usage.query  # noqa: F401
    except ImportError:
        assert outcome == "ok"
        assert (
            conditions.evaluate(busy, timezone.now()).evidence["error"] == "usage counters are not available"
        )


def test_server_down_for_n_minutes(world, monkeypatch):
    # The "for N minutes" arithmetic with a controlled clock (a real stopped server: test_real_sources.py).
    server = ServerConnectionFactory(organization=world.acme, name="flaky")
    ServerConnectionFactory(organization=world.acme, name="fine")
    now = timezone.now()
    since = {"at": now - timedelta(minutes=3)}
    fake = SimpleNamespace(
        current_state=lambda pk: "down" if pk == server.pk else "up",
        down_since=lambda pk: since["at"] if pk == server.pk else None,
    )
    monkeypatch.setattr(conditions, "status_services", lambda: fake)
    down = rule(world.acme, "server_down", threshold=5, params={"server": "flaky"})
    assert evaluate_rule(down.pk, now) == "ok"  # down 3 minutes, threshold 5
    since["at"] = now - timedelta(minutes=7)
    assert evaluate_rule(down.pk, now) == "opened"
    incident = Incident.objects.owned_by(world.acme).get()
    assert incident.evidence["down"][0]["server"] == "flaky" and "down for 7 min" in incident.title
    fake.current_state = lambda pk: "up"
    assert evaluate_rule(down.pk, now) == "resolved"


def _tamper(event: AuditEvent) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'mallory' WHERE id = %s", [event.pk])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def test_audit_chain_failing(world, django_capture_on_commit_callbacks):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    acme_rule = rule(world.acme, "audit_chain", name="acme chain")
    globex_rule = rule(world.globex, "audit_chain", name="globex chain")
    assert evaluate_rule(acme_rule.pk, timezone.now()) == "ok"  # an intact chain
    with django_capture_on_commit_callbacks(execute=True):
        record("test.alerts", organization=world.acme, target=AuditTarget("test", "a"))
        record("test.alerts", organization=world.acme, target=AuditTarget("test", "b"))
    edited = AuditEvent.objects.filter(organization=world.acme, action="test.alerts").order_by("seq").first()
    _tamper(edited)
    cache: dict = {}
    assert evaluate_rule(acme_rule.pk, timezone.now(), cache) == "opened"
    assert evaluate_rule(globex_rule.pk, timezone.now(), cache) == "ok"  # not its event (verify_audit --org)
    incident = Incident.objects.owned_by(world.acme).get()
    assert incident.evidence["first_broken_seq"] == edited.seq
    assert incident.evidence["problems"][0]["kind"] == "edited"


def test_maintenance_window_mutes_a_rule_and_a_server(world, receiver, django_capture_on_commit_callbacks):
    pin = _held_back_tool(world.acme, "utils")
    hook = webhook_channel(world.acme, receiver.url)
    held = rule(world.acme, "pins_held", channels=[hook], params={"server": "utils"})
    now = timezone.now()
    window = MaintenanceWindow.objects.create(
        organization=world.acme,
        rule=held,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(minutes=5),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_rule(held.pk, now) == "muted"
    assert not Incident.objects.owned_by(world.acme).exists() and receiver.received == []
    # A window on the server mutes every rule scoped to it.
    window.delete()
    MaintenanceWindow.objects.create(
        organization=world.acme,
        connection=pin.connection,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(minutes=1),
    )
    assert evaluate_rule(held.pk, now) == "muted"
    # After the window: the rule fires as usual.
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_rule(held.pk, now + timedelta(minutes=2)) == "opened"
    assert [r.json["event"] for r in receiver.received] == ["opened"]
    # Another organization's window mutes nothing here.
    other = ServerConnectionFactory(organization=world.globex, name="utils")
    MaintenanceWindow.objects.create(
        organization=world.globex, connection=other, starts_at=now, ends_at=now + timedelta(hours=1)
    )
    assert services.muting_window(held, now + timedelta(minutes=30)) is None


def test_retries_with_exponential_backoff_then_success(
    world, receiver, backoff, django_capture_on_commit_callbacks
):
    backoff.ALERT_RETRY_BACKOFF_SECONDS = 30.0  # eager mode runs retries at once; the schedule is in the rows
    receiver.responses = [500, 503, 200]
    _held_back_tool(world.acme)
    hook = webhook_channel(world.acme, receiver.url)
    held = rule(world.acme, "pins_held", channels=[hook])
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_rule(held.pk, timezone.now())
    rows = list(Delivery.objects.owned_by(world.acme).order_by("attempt"))
    assert [(d.attempt, d.status, d.response_code) for d in rows] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "sent", 200),
    ]
    assert round((rows[0].next_retry_at - rows[0].created_at).total_seconds()) == 30
    assert round((rows[1].next_retry_at - rows[1].created_at).total_seconds()) == 60
    assert rows[2].next_retry_at is None
    assert len(receiver.received) == 3 and all(r.signature_ok for r in receiver.received)


def test_retries_are_bounded(world, receiver, backoff, django_capture_on_commit_callbacks):
    receiver.responses = [500]
    _held_back_tool(world.acme)
    held = rule(world.acme, "pins_held", channels=[webhook_channel(world.acme, receiver.url)])
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_rule(held.pk, timezone.now())
    statuses = list(
        Delivery.objects.owned_by(world.acme).order_by("attempt").values_list("status", flat=True)
    )
    assert statuses == ["failed", "failed", "failed", "gave_up"]  # ALERT_RETRY_MAX_ATTEMPTS = 4
    assert len(receiver.received) == 4


def test_backoff_doubles_up_to_the_cap(settings):
    settings.ALERT_RETRY_BACKOFF_SECONDS = 10
    settings.ALERT_RETRY_BACKOFF_MAX_SECONDS = 50
    assert [services.backoff(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 50]


def test_egress_policy_applies_to_webhooks(world, receiver, settings, django_capture_on_commit_callbacks):
    settings.MCP_EGRESS_ALLOW = []  # the strict policy: loopback refused for an organization's channel
    _held_back_tool(world.acme)
    held = rule(world.acme, "pins_held", channels=[webhook_channel(world.acme, receiver.url)])
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_rule(held.pk, timezone.now())
    (delivery,) = Delivery.objects.owned_by(world.acme)
    assert delivery.status == "gave_up" and "egress policy" in delivery.error  # no retry: it cannot help
    assert receiver.received == []
