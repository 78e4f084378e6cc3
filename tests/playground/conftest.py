"""A small world for playground tests: an organization with the three built-in servers, prompts
and resources (``tests.gateway.world.make_tenant``), a second one, and one user per role plus an
outsider and a superuser who is not a member (the playground gives superusers nothing extra).

``lab`` lives in the test's transaction (sync tests: the API and pages run operations with
``async_to_sync``, whose ORM calls come back to the test's thread); ``committed_lab`` is committed
(async tests: the async ORM works in other threads, which see only committed rows).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AbstractBaseUser

from omni.tenants.models import Role
from omni.tenants.services import add_member
from tests.factories import UserFactory
from tests.gateway.world import Tenant, make_tenant


@dataclass
class Lab:
    acme: Tenant
    globex: Tenant
    owner: AbstractBaseUser
    admin: AbstractBaseUser
    member: AbstractBaseUser
    viewer: AbstractBaseUser
    outsider: AbstractBaseUser
    superuser: AbstractBaseUser

    @property
    def slug(self) -> str:
        return self.acme.org.slug


def make_lab() -> Lab:
    suffix = uuid.uuid4().hex[:8]
    acme = make_tenant("acme")
    globex = make_tenant("globex", servers=("utilities",))
    users = {
        role: UserFactory(username=f"{role}-{suffix}")
        for role in ("owner", "admin", "member", "viewer", "outsider", "superuser")
    }
    for role in (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER):
        add_member(acme.org, users[role], role)
    add_member(globex.org, users["outsider"], Role.OWNER)  # an owner elsewhere is still an outsider here
    superuser = users["superuser"]
    superuser.is_superuser = superuser.is_staff = True
    superuser.save()
    return Lab(acme=acme, globex=globex, **users)


@pytest.fixture
def lab(db) -> Lab:
    return make_lab()


@pytest.fixture
def committed_lab(committed) -> Lab:
    return make_lab()


@pytest.fixture
async def _close_orm_thread_connections():
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def make_run(org, **fields):
    """A stored test run with sensible defaults (for history, diff and analytics tests)."""
    from omni.playground.models import TestRun

    defaults = {
        "organization": org,
        "username": "someone",
        "source": TestRun.Source.PLAYGROUND,
        "operation": "tools/call",
        "target": "utilities__calculate",
        "request": {
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": {"name": "utilities__calculate", "arguments": {"expression": "1+1"}},
            "protocol": "2026-07-28",
        },
        "response": {"content": [{"type": "text", "text": "2"}], "structuredContent": {"result": 2}},
        "outcome": TestRun.Outcome.OK,
        "duration_ms": 10.0,
        "validation": {"schema": {"checked": True, "valid": True, "type": "CallToolResult", "errors": []}},
    }
    defaults.update(fields)
    return TestRun.objects.create(**defaults)


def reset_mcp_counters(org, user) -> None:
    """Zero the current window's MCP rate-limit counters of ``user`` and ``org``.

    For in-process tests with low limits: on SQLite a rolled-back test's ids are given out again,
    so a later test could otherwise inherit an earlier one's counts within the same minute.
    """
    from django.core.cache import cache

    from omni.security import buckets, ratelimit
    from omni.tenants.context import OrgContext

    ctx = OrgContext(
        organization=org, principal=f"user:{user.get_username()}", role="member", user_id=user.pk
    )
    start, _ = ratelimit._window(ratelimit.WINDOW_SECONDS)
    for key, _name in buckets.mcp_buckets(ctx):
        cache.delete(ratelimit._counter_name(key, ratelimit.WINDOW_SECONDS, start))
