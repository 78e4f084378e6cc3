"""A world for scenario tests: an organization with the built-in servers and the demo prompts,
resources and resource templates as its own items (nothing global, so other tests never see them),
one user per role, an outsider, and a second organization.

``world`` lives in the test's transaction (sync tests: ``run_scenario`` runs the engine with
``async_to_sync``, whose ORM calls come back to the test's thread); ``committed_world`` is committed,
for tests that start a process (``manage.py run_scenario``) or a live server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AbstractBaseUser

from omni.registry.models import Prompt, Resource, ResourceTemplate
from omni.registry.seeding import ensure_items, load_fixture
from omni.tenants.models import Organization, Role
from omni.tenants.services import add_member
from tests.factories import UserFactory
from tests.gateway.world import BUILTIN, make_tenant


@dataclass
class ScenarioWorld:
    org: Organization
    other: Organization
    owner: AbstractBaseUser
    member: AbstractBaseUser
    viewer: AbstractBaseUser
    outsider: AbstractBaseUser

    @property
    def slug(self) -> str:
        return self.org.slug


def make_world() -> ScenarioWorld:
    suffix = uuid.uuid4().hex[:8]
    # The three demo servers and the fault-injecting one (the faults_* shipped scenarios).
    org = make_tenant("scen", servers=(*BUILTIN, "faults")).org
    other = make_tenant("other", servers=("utilities",)).org
    ensure_items(Prompt, org, load_fixture("demo_prompts.json"))
    ensure_items(Resource, org, load_fixture("demo_resources.json"))
    ensure_items(ResourceTemplate, org, load_fixture("demo_resource_templates.json"))
    users = {
        role: UserFactory(username=f"s{role}-{suffix}") for role in ("owner", "member", "viewer", "outsider")
    }
    add_member(org, users["owner"], Role.OWNER)
    add_member(org, users["member"], Role.MEMBER)
    add_member(org, users["viewer"], Role.VIEWER)
    add_member(other, users["outsider"], Role.OWNER)
    return ScenarioWorld(org=org, other=other, **users)


@pytest.fixture
def world(db) -> ScenarioWorld:
    return make_world()


@pytest.fixture
def committed_world(committed) -> ScenarioWorld:
    return make_world()
