"""Access rules: their semantics, validation, catalogue invalidation, and the management page."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from omni.gateway.state import read_versions
from omni.registry import access
from omni.registry.access_models import AccessRule
from omni.tenants.services import authenticate_api_key, create_api_key, resolve_user_context

TOOLS = ["utilities__calculate", "utilities__hash", "knowledge__search_notes", "knowledge__delete_note"]


def rule(org, pattern, effect="deny", kind="tool", role="member", priority=100, api_key=None):
    fields = {"subject_type": "api_key", "api_key": api_key} if api_key else {"role": role}
    return AccessRule.objects.create(
        organization=org, kind=kind, pattern=pattern, effect=effect, priority=priority, **fields
    )


def ctx_of(world, who):
    return resolve_user_context(world.user(who), world.org.slug)


def key_ctx(org, name="k"):
    _key, raw = create_api_key(org, name)
    return authenticate_api_key(raw)


def test_no_rules_allow_everything(world):
    ctx = ctx_of(world, "viewer")
    assert access.visible(ctx, "tool", TOOLS) == set(TOOLS)
    assert access.allowed(ctx, "prompt", "anything")


def test_a_role_deny_hides_only_for_that_role(world):
    rule(world.org, "utilities__*", role="viewer")
    assert access.visible(ctx_of(world, "viewer"), "tool", TOOLS) == {
        "knowledge__search_notes",
        "knowledge__delete_note",
    }
    assert access.visible(ctx_of(world, "member"), "tool", TOOLS) == set(TOOLS)
    assert access.allowed(ctx_of(world, "viewer"), "prompt", "utilities__calculate")  # kinds are separate


def test_allow_list_with_a_catch_all_deny(world):
    rule(world.org, "knowledge__search_*", effect="allow", priority=10)
    rule(world.org, "*", priority=1000)
    member = ctx_of(world, "member")
    assert access.visible(member, "tool", TOOLS) == {"knowledge__search_notes"}
    assert not access.allowed(member, "tool", "utilities__calculate")
    assert access.allowed(ctx_of(world, "owner"), "tool", "utilities__calculate")


def test_first_match_by_priority_and_deny_first_at_equal_priority(world):
    rule(world.org, "utilities__calculate", effect="allow", priority=5)
    rule(world.org, "utilities__*", priority=10)
    member = ctx_of(world, "member")
    assert access.allowed(member, "tool", "utilities__calculate")
    assert not access.allowed(member, "tool", "utilities__hash")
    rule(world.org, "knowledge__*", effect="allow", priority=20)
    rule(world.org, "knowledge__*", effect="deny", priority=20)
    assert not access.allowed(member, "tool", "knowledge__search_notes")


def test_key_rules_and_member_rules_apply_to_keys(world):
    first, second = key_ctx(world.org, "first"), key_ctx(world.org, "second")
    rule(world.org, "knowledge__delete_note", api_key=first.api_key)
    rule(world.org, "utilities__hash")  # role member: keys act as members
    assert access.visible(first, "tool", TOOLS) == {"utilities__calculate", "knowledge__search_notes"}
    assert access.visible(second, "tool", TOOLS) == {
        "utilities__calculate",
        "knowledge__search_notes",
        "knowledge__delete_note",
    }


def test_resource_uri_globs(world):
    rule(world.org, "memo://secret/*", kind="resource", role="viewer")
    viewer = ctx_of(world, "viewer")
    assert not access.allowed(viewer, "resource", "memo://secret/plans")
    assert access.allowed(viewer, "resource", "memo://public/readme")
    assert access.allowed(viewer, "tool", "memo://secret/plans")


def test_patterns_are_case_sensitive_globs(world):
    rule(world.org, "Utilities__[ch]*", role="viewer")
    viewer = ctx_of(world, "viewer")
    assert access.allowed(viewer, "tool", "utilities__calculate")
    assert not access.allowed(viewer, "tool", "Utilities__hash")


async def test_aload_rules_compiles_once_for_the_gateway(committed):
    """The async ORM runs in another thread (another connection): committed rows only."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    from tests.security.conftest import make_world

    try:
        world = await sync_to_async(make_world)()
        await sync_to_async(rule)(world.org, "utilities__*")
        rules = await access.aload_rules(world.org)
        member = await sync_to_async(ctx_of)(world, "member")
        assert not rules.allows(member, "tool", "utilities__hash")
        assert rules.visible(member, "tool", TOOLS) == {"knowledge__search_notes", "knowledge__delete_note"}
        outsider = await sync_to_async(resolve_user_context)(world.user("outsider"), world.other.slug)
        with pytest.raises(ValueError):
            rules.allows(outsider, "tool", "x")
        with pytest.raises(ValueError):
            rules.allows(member, "tools", "x")
    finally:
        await sync_to_async(connections.close_all)()


def test_rules_are_loaded_once_per_call(world, django_assert_num_queries):
    rule(world.org, "utilities__*")
    member = ctx_of(world, "member")
    with django_assert_num_queries(1):
        access.visible(member, "tool", TOOLS * 50)


def test_other_organizations_rules_do_not_apply(world):
    rule(world.other, "*")
    assert access.visible(ctx_of(world, "member"), "tool", TOOLS) == set(TOOLS)


@pytest.mark.parametrize("pattern", ["", "has space", "tab\tx", "x" * 501, "bad[glob"])
def test_bad_patterns_are_refused(world, pattern):
    with pytest.raises(ValidationError):
        access.create_rule(ctx_of(world, "owner"), kind="tool", pattern=pattern, effect="deny", role="member")
    assert not AccessRule.objects.for_org(world.org).exists()


def test_subject_must_be_complete_and_in_the_organization(world):
    owner = ctx_of(world, "owner")
    with pytest.raises(ValidationError):
        access.create_rule(owner, kind="tool", pattern="x", effect="deny", subject_type="role", role="")
    with pytest.raises(ValidationError):
        access.create_rule(owner, kind="tool", pattern="x", effect="deny", subject_type="api_key")
    foreign, _ = create_api_key(world.other, "foreign")
    with pytest.raises(Exception) as excinfo:
        access.create_rule(
            owner, kind="tool", pattern="x", effect="deny", subject_type="api_key", api_key=foreign
        )
    assert excinfo.type.__name__ == "Http404"
    with pytest.raises(IntegrityError), transaction.atomic():
        AccessRule.objects.create(
            organization=world.org, subject_type="role", role="", kind="tool", pattern="x"
        )


def test_only_owners_and_admins_manage_rules(world):
    from django.core.exceptions import PermissionDenied

    for who in ("member", "viewer"):
        with pytest.raises(PermissionDenied):
            access.create_rule(ctx_of(world, who), kind="tool", pattern="x", effect="deny", role="member")
        with pytest.raises(PermissionDenied):
            access.list_rules(ctx_of(world, who))
    assert access.create_rule(ctx_of(world, "admin"), kind="tool", pattern="x", effect="deny", role="member")


def test_saving_and_deleting_invalidate_the_catalogue(world, django_capture_on_commit_callbacks):
    import asyncio

    def version() -> int:
        return asyncio.run(read_versions([f"catalogue:org:{world.org.pk}"]))[0]

    before = version()
    with django_capture_on_commit_callbacks(execute=True):
        created = access.create_rule(
            ctx_of(world, "owner"), kind="tool", pattern="x", effect="deny", role="viewer"
        )
    after_create = version()
    assert after_create > before
    with django_capture_on_commit_callbacks(execute=True):
        access.delete_rule(ctx_of(world, "owner"), created.uuid)
    assert version() > after_create


def test_deleting_another_organizations_rule_is_404(world):
    from django.http import Http404

    foreign = rule(world.other, "*")
    with pytest.raises(Http404):
        access.delete_rule(ctx_of(world, "owner"), foreign.uuid)
    assert AccessRule.objects.filter(pk=foreign.pk).exists()
