from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from omni.registry.models import Prompt
from omni.tenants import permissions as p
from omni.tenants.context import OrgContext
from omni.tenants.models import Membership, Organization
from omni.tenants.services import (
    add_member,
    aresolve_user_context,
    create_organization,
    delete_organization,
    organizations_for_user,
    resolve_user_context,
)
from tests.factories import PromptFactory


def test_member_gets_a_context_with_their_role(world):
    ctx = resolve_user_context(world.owner, world.acme.slug)
    assert ctx.organization == world.acme
    assert ctx.role == "owner"
    assert ctx.user_id == world.owner.pk
    assert ctx.credential_id == f"user:{world.owner.pk}"
    assert ctx.scopes == frozenset(p.API_KEY_SCOPES)
    viewer = resolve_user_context(world.viewer, world.acme.slug)
    assert viewer.scopes == frozenset({p.PROMPTS_READ, p.RESOURCES_READ})


@pytest.mark.parametrize("who", ["outsider", "member", "anonymous"])
def test_non_members_get_404(world, who):
    user = AnonymousUser() if who == "anonymous" else getattr(world, who)
    with pytest.raises(Http404):
        resolve_user_context(user, world.acme.slug)  # globex's member is an outsider to acme
    with pytest.raises(Http404):
        async_to_sync(aresolve_user_context)(user, world.acme.slug)


def test_unknown_org_is_404_like_a_foreign_one(world):
    with pytest.raises(Http404) as unknown:
        resolve_user_context(world.owner, "no-such-org")
    with pytest.raises(Http404) as foreign:
        resolve_user_context(world.owner, world.globex.slug)
    assert str(unknown.value) == str(foreign.value)


def test_async_resolver(world):
    ctx = async_to_sync(aresolve_user_context)(world.member, world.globex.slug)
    assert ctx.role == "member" and ctx.organization == world.globex


def test_organizations_for_user(world):
    assert organizations_for_user(world.owner) == [world.acme]
    assert organizations_for_user(world.outsider) == []
    assert organizations_for_user(AnonymousUser()) == []


MATRIX = {
    # capability: roles that have it
    p.PROMPTS_READ: {"owner", "admin", "member", "viewer"},
    p.RESOURCES_READ: {"owner", "admin", "member", "viewer"},
    p.REGISTRY_READ: {"owner", "admin", "member", "viewer"},
    p.TOOLS_CALL: {"owner", "admin", "member"},
    p.REGISTRY_WRITE: {"owner", "admin"},
    p.MEMBERS_MANAGE: {"owner", "admin"},
    p.KEYS_MANAGE: {"owner", "admin"},
    p.ORG_MANAGE: {"owner", "admin"},
    p.AUDIT_READ: {"owner", "admin"},
    p.PRIVACY_MANAGE: {"owner"},
    p.USAGE_READ: {"owner", "admin"},
    p.LOADTEST_READ: {"owner", "admin", "member", "viewer"},
    p.LOADTEST_RUN: {"owner", "admin"},
}


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer", "bogus"])
@pytest.mark.parametrize("capability", sorted(MATRIX))
def test_permission_matrix(role, capability):
    ctx = OrgContext(organization=Organization(pk=1, slug="x"), principal="user:u", role=role)
    expected = role in MATRIX[capability]
    assert p.can(ctx, capability) is expected
    if expected:
        p.require(ctx, capability)
    else:
        with pytest.raises(PermissionDenied):
            p.require(ctx, capability)


def test_matrix_covers_every_capability():
    assert set(MATRIX) == p.ALL_CAPABILITIES


def test_add_member_changes_role_without_duplicating(world):
    add_member(world.acme, world.outsider, "viewer")
    add_member(world.acme, world.outsider, "admin")
    memberships = Membership.objects.for_org(world.acme).filter(user=world.outsider)
    assert [m.role for m in memberships] == ["admin"]
    with pytest.raises(ValueError):
        add_member(world.acme, world.outsider, "superhero")


def test_for_org_rejects_anything_but_an_org_or_context(world):
    with pytest.raises(TypeError):
        Membership.objects.for_org(world.acme.pk)
    with pytest.raises(TypeError):
        Membership.objects.for_org(None)
    with pytest.raises(ValueError):
        Membership.objects.for_org(Organization(slug="unsaved"))
    ctx = resolve_user_context(world.owner, world.acme.slug)
    assert set(Membership.objects.for_org(ctx)) == set(Membership.objects.for_org(world.acme))
    assert all(m.organization_id == world.acme.pk for m in Membership.objects.for_org(ctx))


def test_create_organization_validates(db):
    with pytest.raises(Exception):  # noqa: B017 - ValidationError for a bad slug
        create_organization("not a slug", "Bad")
    assert create_organization("fine-slug-1", "Fine").slug == "fine-slug-1"


def test_delete_organization_notifies_after_commit(world, django_capture_on_commit_callbacks):
    PromptFactory(organization=world.acme)
    org_id = world.acme.pk
    with mock.patch("omni.gateway.notify.registry_changed") as notified:
        with django_capture_on_commit_callbacks(execute=True):
            delete_organization(world.acme)
    notified.assert_called_once_with(org_id, {"tools", "prompts", "resources"})
    assert not Prompt.objects.filter(organization_id=org_id).exists()
