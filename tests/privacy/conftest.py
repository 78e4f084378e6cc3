"""Fixtures of the privacy tests: retention (a small world, rows of a given age, verify_audit) and
data-subject rights (two people in two organizations, reading an export back)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from omni.audit.services import record
from omni.playground.models import TestRun
from omni.playground.scenario_models import ScenarioRun
from omni.tenants.models import Invitation, Role
from omni.tenants.services import add_member, create_api_key, create_organization
from tests.factories import (
    TEST_PASSWORD,
    DatasetFactory,
    InvitationFactory,
    MembershipFactory,
    NoteFactory,
    ScenarioRunFactory,
    TestRunFactory,
    UserFactory,
    World,
)
from tests.live import unique_slug


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


# Fixtures of the data-subject tests: two people in two organizations, and helpers to read an
# export back.


@dataclass
class People:
    """``alice`` owns ``org_a`` (``bob`` is an admin there); ``bob`` owns ``org_b`` alone.
    Each has a key, runs, audit events from an IP of their own, and invitations."""

    org_a: Any
    org_b: Any
    alice: Any
    bob: Any
    alice_key: Any
    bob_key: Any
    alice_ip: str
    bob_ip: str
    carol_email: str
    password: str = TEST_PASSWORD


def make_people() -> People:
    tag = uuid.uuid4().hex[:8]
    org_a = create_organization(unique_slug("dsa"), "DS A")
    org_b = create_organization(unique_slug("dsb"), "DS B")
    alice = UserFactory(username=f"alice-{tag}", email=f"alice-{tag}@example.org")
    bob = UserFactory(username=f"bob-{tag}", email=f"bob-{tag}@example.net")
    add_member(org_a, alice, Role.OWNER)
    add_member(org_a, bob, Role.ADMIN)
    add_member(org_b, bob, Role.OWNER)
    alice_key, _ = create_api_key(org_a, f"alice-laptop-{tag}", created_by=alice)
    bob_key, _ = create_api_key(org_b, f"bob-ci-{tag}", created_by=bob)
    people = People(
        org_a=org_a,
        org_b=org_b,
        alice=alice,
        bob=bob,
        alice_key=alice_key,
        bob_key=bob_key,
        alice_ip="203.0.113.71",
        bob_ip="198.51.100.72",
        carol_email=f"carol-{tag}@example.com",
    )
    return people


def act(people: People) -> None:
    """What each of them did: logins from their own IP, runs, notes, datasets, invitations."""
    client = Client(REMOTE_ADDR=people.alice_ip)
    assert (
        client.post("/login/", {"username": people.alice.username, "password": people.password}).status_code
        == 302
    )
    client = Client(REMOTE_ADDR=people.bob_ip)
    assert (
        client.post("/login/", {"username": people.bob.username, "password": people.password}).status_code
        == 302
    )
    record("test.subject_action", organization=people.org_a, actor=people.alice_key, data={"n": 1})
    record("test.subject_action", organization=people.org_b, actor=people.bob_key, data={"n": 2})
    TestRunFactory(
        organization=people.org_a, user=people.alice, username=people.alice.username, target="alice_tool"
    )
    TestRunFactory(
        organization=people.org_a, user=people.bob, username=people.bob.username, target="bob_tool"
    )
    ScenarioRunFactory(
        organization=people.org_a, user=people.alice, username=people.alice.username, name="alice_sc"
    )
    NoteFactory(org_slug=people.org_a.slug, title="note of org a")
    NoteFactory(org_slug=people.org_b.slug, title="note of org b")
    DatasetFactory(org_slug=people.org_a.slug, name="dataset_a")
    DatasetFactory(org_slug=people.org_b.slug, name="dataset_b")
    # alice invited carol to org_a; bob invited alice's address to org_a.
    InvitationFactory(organization=people.org_a, email=people.carol_email, invited_by=people.alice,
                      invited_by_name=people.alice.username)  # fmt: skip
    InvitationFactory(organization=people.org_a, email=people.alice.email, invited_by=people.bob,
                      invited_by_name=people.bob.username)  # fmt: skip


@pytest.fixture
def people(db, django_capture_on_commit_callbacks, monkeypatch) -> People:
    # The export task runs in this process (what the embedded default does), not on a broker.
    from omni.privacy.subjects import tasks

    monkeypatch.setattr(tasks.build_export, "delay", lambda pk: tasks.build_export.apply(args=[pk]))
    with django_capture_on_commit_callbacks(execute=True):
        found = make_people()
        act(found)
    return found


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def load(files: dict[str, bytes], name: str) -> Any:
    return json.loads(files[name])


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def verify_chain(tries: int = 3) -> tuple[int, str]:
    """``verify_audit --no-spool``: (exit status, output). The session's live server may append
    events while it reads (the chain head then runs ahead of what it read, a "[head]" report), so
    a failure made only of such a report is read again, at most ``tries`` times."""
    for attempt in range(tries):
        out = io.StringIO()
        try:
            call_command("verify_audit", "--no-spool", stdout=out)
        except SystemExit as exc:
            text = out.getvalue()
            problems = [line for line in text.splitlines() if line.startswith("  seq ")]
            if attempt + 1 < tries and problems and all("[head]" in line for line in problems):
                time.sleep(0.5)
                continue
            return int(exc.code), text
        return 0, out.getvalue()
    raise AssertionError("unreachable")
