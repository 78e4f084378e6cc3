"""Fixtures for the retention tests: the fixed small world, rows of a given age, verify_audit."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from omni.playground.models import TestRun
from omni.playground.scenario_models import ScenarioRun
from omni.tenants.models import Invitation, Role
from tests.factories import MembershipFactory, UserFactory, World


class PrivacyWorld(World):
    """``World`` plus an admin of acme (owners edit, admins only read the privacy page)."""

    def __init__(self) -> None:
        super().__init__()
        self.admin = UserFactory(username=f"admin-{uuid.uuid4().hex[:8]}")
        MembershipFactory(user=self.admin, organization=self.acme, role=Role.ADMIN)


@pytest.fixture
def world(db) -> PrivacyWorld:
    return PrivacyWorld()


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_run(org, created_at: datetime, target: str = "t") -> TestRun:
    return TestRun.objects.create(
        organization=org, operation="tools/call", target=target, outcome="ok", created_at=created_at
    )


test_run.__test__ = False  # a helper, not a test


def scenario_run(org, started_at: datetime, status: str = "passed") -> ScenarioRun:
    return ScenarioRun.objects.create(
        organization=org, trigger="cli", name="s", text="steps: []", status=status, started_at=started_at
    )


def invitation(org, *, expires_at: datetime, revoked_at=None, accepted_at=None) -> Invitation:
    return Invitation.objects.create(
        organization=org,
        email=f"{uuid.uuid4().hex[:8]}@example.org",
        token_hash=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        expires_at=expires_at,
        revoked_at=revoked_at,
        accepted_at=accepted_at,
        created_at=expires_at - timedelta(days=3),
    )


def days_ago(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


def verify(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def set_trigger(enabled: bool) -> None:
    with connection.cursor() as cursor:
        state = "ENABLE" if enabled else "DISABLE"
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
        cursor.execute(f"ALTER TABLE audit_auditevent {state} TRIGGER audit_event_append_only")
