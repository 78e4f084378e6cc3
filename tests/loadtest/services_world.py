"""A small world for the load tester's services: an organization with an admin and a member, its
own built-in server, another organization, a superuser, and the profile the tests start.

Not a conftest (the other parts' tests in this directory keep theirs): the test_services*.py
modules take the fixture with ``world = services_world.world``."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import pytest

from omni.tenants.models import Organization, Role
from tests.factories import MembershipFactory, OrganizationFactory, ServerConnectionFactory, UserFactory

TINY = textwrap.dedent(
    """\
    name: tiny
    operations:
      - tools/list
      - {tool: utilities__calculate, arguments: {expression: "1+1"}}
    arrival: {model: closed, users: 3}
    duration: 2s
    """
)


@dataclass
class LoadWorld:
    org: Organization
    other: Organization
    admin: Any
    member: Any
    operator: Any


@pytest.fixture
def world(db) -> LoadWorld:
    org = OrganizationFactory()
    other = OrganizationFactory()
    admin, member = UserFactory(), UserFactory()
    MembershipFactory(organization=org, user=admin, role=Role.ADMIN)
    MembershipFactory(organization=org, user=member, role=Role.MEMBER)
    ServerConnectionFactory(organization=org, name="utilities", target="utilities")
    operator = UserFactory(is_superuser=True)
    return LoadWorld(org=org, other=other, admin=admin, member=member, operator=operator)
