"""Fixtures of the security tests: one organization with a user per role, an outsider (a member of
another organization only), clients, and a fresh client IP per test (per-IP counters are shared
by every test that comes from 127.0.0.1)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import pytest
from django.test import Client

from omni.tenants.models import Organization, Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

ROLES = ("owner", "admin", "member", "viewer")


@dataclass
class RoleWorld:
    org: Organization
    other: Organization
    users: dict[str, object] = field(default_factory=dict)

    def user(self, who: str):
        return self.users[who]


def make_world() -> RoleWorld:
    suffix = uuid.uuid4().hex[:8]
    org = OrganizationFactory(slug=f"sec-{suffix}", name="Security Org")
    other = OrganizationFactory(slug=f"other-{suffix}", name="Other Org")
    world = RoleWorld(org=org, other=other)
    for role in ROLES:
        user = UserFactory(username=f"{role}-{suffix}")
        MembershipFactory(user=user, organization=org, role=role)
        world.users[role] = user
    outsider = UserFactory(username=f"outsider-{suffix}")
    MembershipFactory(user=outsider, organization=other, role=Role.OWNER)
    world.users["outsider"] = outsider
    return world


@pytest.fixture
def world(db) -> RoleWorld:
    return make_world()


def random_ip() -> str:
    """A documentation-range address of its own for one test's requests."""
    return f"198.51.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
def ip() -> str:
    return random_ip()


@pytest.fixture
def client_as(ip):
    """``client_as(user_or_None)``: a test client (logged in unless None) from this test's IP."""

    def make(user=None) -> Client:
        client = Client(REMOTE_ADDR=ip)
        if user is not None:
            client.force_login(user)
        return client

    return make
