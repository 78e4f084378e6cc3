"""The organization's privacy page: who sees it, who changes it, bounds validation, tenancy."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from omni.audit.models import AuditEvent
from omni.privacy.models import OrgRetention, RetentionRun
from omni.privacy.retention.engine import apply_retention
from tests.privacy.conftest import days_ago, test_run


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _url(world, tail: str = "") -> str:
    return f"/o/{world.acme.slug}/privacy/{tail}"


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("admin", 200), ("viewer", 403), ("member", 404), ("outsider", 404)]
)
def test_who_sees_the_page(world, who, status):
    response = _client(getattr(world, who)).get(_url(world))
    assert response.status_code == status
    if status == 200:
        body = response.content.decode()
        assert "Retention periods" in body and "Legal hold" in body and "Last cleanup runs" in body
        # Only owners get the forms.
        assert ('name="test_runs"' in body) == (who == "owner")
        assert ("Save legal hold" in body) == (who == "owner")


def test_the_page_shows_this_organizations_runs_only(world):
    now = timezone.now()
    test_run(world.acme, days_ago(now, 300))
    test_run(world.globex, days_ago(now, 300))
    apply_retention(classes=["test_runs"], now=now)
    assert RetentionRun.objects.filter(organization=world.globex).exists()
    response = _client(world.owner).get(_url(world))
    runs = response.context["runs"]
    assert runs and {run.organization_id for run in runs} == {world.acme.pk}
    assert "test_runs" in response.content.decode()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("test_runs", "0", "At least 1 days"),
        ("test_runs", "5000", "At most 3650 days"),
        ("audit_events", "10", "At least 30 days"),
        ("expired_invitations", "abc", "A whole number of days."),
    ],
)
def test_the_form_validates_against_the_bounds(world, field, value, message):
    response = _client(world.owner).post(_url(world, "retention/"), {field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not OrgRetention.objects.filter(organization=world.acme).exists()


def test_the_bounds_come_from_settings(world, settings):
    settings.RETENTION_BOUNDS = {"test_runs": (7, 30)}
    response = _client(world.owner).post(_url(world, "retention/"), {"test_runs": "60"})
    assert response.status_code == 400 and "At most 30 days" in response.content.decode()
    response = _client(world.owner).post(_url(world, "retention/"), {"test_runs": "20"})
    assert response.status_code == 302


def test_an_owner_saves_periods_and_it_is_audited(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(world.owner).post(
            _url(world, "retention/"), {"test_runs": "30", "audit_events": ""}
        )
    assert response.status_code == 302
    assert OrgRetention.objects.get(organization=world.acme).days == {"test_runs": 30}
    event = AuditEvent.objects.get(action="privacy.retention_change", organization=world.acme)
    assert event.data == {"before": {}, "after": {"test_runs": 30}}
    assert event.actor_name == world.owner.username
    page = _client(world.owner).get(_url(world)).content.decode()
    assert 'value="30"' in page
    # Emptying a field goes back to the platform default.
    _client(world.owner).post(_url(world, "retention/"), {"test_runs": ""})
    assert OrgRetention.objects.get(organization=world.acme).days == {}


@pytest.mark.parametrize("who", ["admin", "viewer"])
def test_only_owners_change_anything(world, who):
    client = _client(getattr(world, who))
    assert client.post(_url(world, "retention/"), {"test_runs": "30"}).status_code == 403
    assert client.post(_url(world, "legal-hold/"), {"legal_hold": "on", "reason": "x"}).status_code == 403
    assert not OrgRetention.objects.filter(organization=world.acme).exists()


def test_another_organization_cannot_act_on_it(world):
    client = _client(world.member)  # globex's member
    assert client.post(_url(world, "retention/"), {"test_runs": "30"}).status_code == 404
    assert client.post(_url(world, "legal-hold/"), {"legal_hold": "on", "reason": "x"}).status_code == 404
    assert not OrgRetention.objects.filter(organization=world.acme).exists()


def test_legal_hold_from_the_page(world, django_capture_on_commit_callbacks):
    client = _client(world.owner)
    response = client.post(_url(world, "legal-hold/"), {"legal_hold": "on", "reason": "  "})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(world, "legal-hold/"), {"legal_hold": "on", "reason": "case 42"})
    assert response.status_code == 302
    row = OrgRetention.objects.get(organization=world.acme)
    assert row.legal_hold and row.legal_hold_reason == "case 42" and row.legal_hold_by == world.owner.username
    page = client.get(_url(world)).content.decode()
    assert "on hold" in page and "case 42" in page
    assert AuditEvent.objects.filter(action="privacy.legal_hold_on", organization=world.acme).exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(world, "legal-hold/"), {"reason": ""})
    assert not OrgRetention.objects.get(organization=world.acme).legal_hold
    assert AuditEvent.objects.filter(action="privacy.legal_hold_off", organization=world.acme).exists()


def test_the_nav_links_the_page_for_owners_and_admins(world):
    assert (
        f'href="/o/{world.acme.slug}/privacy/"'
        in _client(world.admin).get(f"/o/{world.acme.slug}/").content.decode()
    )
    assert "/privacy/" not in _client(world.viewer).get(f"/o/{world.acme.slug}/").content.decode()
