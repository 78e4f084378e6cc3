"""Fixtures for the audit tests: the fixed small world, and helpers to read the chain back."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from omni.audit.models import AuditEvent
from omni.tenants.models import Role
from omni.tenants.services import add_member
from tests.factories import World


@pytest.fixture
def world(db, django_capture_on_commit_callbacks) -> World:
    world = World()
    with django_capture_on_commit_callbacks(execute=True):
        add_member(world.acme, world.owner, Role.OWNER)
        add_member(world.acme, world.viewer, Role.VIEWER)
        add_member(world.globex, world.member, Role.MEMBER)
    return world


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Inside ``db``'s transaction nothing commits: run the on_commit callbacks (the appends)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def events(**filters) -> list[AuditEvent]:
    """Events matching ``filters`` in seq order (tests read the whole table on purpose)."""
    return list(AuditEvent.objects.filter(**filters).order_by("seq"))


def last_event(**filters) -> AuditEvent:
    event = AuditEvent.objects.filter(**filters).order_by("-seq").first()
    assert event is not None, f"no audit event with {filters}"
    return event


def verify(*args: str) -> tuple[int, str]:
    """Run ``verify_audit``; return (exit status, output)."""
    out = io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def problems_of(out: str) -> set[str]:
    """The problem lines of a ``verify_audit`` report (tampered events, lost spooled events)."""
    return {line.strip() for line in out.splitlines() if line.strip().startswith(("seq ", "source "))}


def verify_adds_no_problem(before: str) -> str:
    """``verify_audit`` finds no problem that was not already in ``before`` (a report taken at the
    start of the test). The suite shares one committed database: a problem another test left
    behind is that test's to answer for; what this test did must add none."""
    status, out = verify()
    if status == 0:
        return out
    new = problems_of(out) - problems_of(before)
    assert not new and problems_of(out), out
    return out


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    """Close the connection the async ORM opened in asgiref's worker thread, so PostgreSQL can
    drop the test database at the end."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()
